// The OpenClaw provider plugin (index.js) offline: a fake plugin api and a fake inner stream function
// drive it with calls shaped like OpenClaw's, against the real library ($QUANTCLAW_PLUGIN, set by ctest).
// The real OpenClaw runs it end to end in tests/openclaw/openclaw_e2e.py.
//
// The plugin imports the binding as the package `quantclaw`, which its tarball bundles. Installing the
// binding's tarball into this folder makes node_modules/quantclaw a copy taken at that time, which can
// lag the binding in the working tree. So the test loads the plugin from a temporary folder whose
// node_modules/quantclaw is a symlink to examples/node: it always runs the binding as it is now and does
// not depend on what was installed here (tests/packages and openclaw_e2e.py test the packed plugin).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const pluginSource = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bindingSource = path.resolve(pluginSource, '..', 'node');
const library = process.env.QUANTCLAW_PLUGIN;
if (!library) throw new Error('set QUANTCLAW_PLUGIN to libquantclaw.so.1 (ctest sets it)');
if (!fs.existsSync(path.join(bindingSource, 'node_modules', 'koffi', 'package.json'))) {
  throw new Error(`koffi is not installed in ${bindingSource} (cmake/quantclaw-dev.sh setup installs it)`);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'quantclaw-openclaw-plugin-'));
test.after(() => fs.rmSync(work, { recursive: true, force: true }));
const pluginDir = path.join(work, 'plugin');
fs.mkdirSync(path.join(pluginDir, 'node_modules'), { recursive: true });
for (const name of ['index.js', 'package.json', 'openclaw.plugin.json']) {
  fs.copyFileSync(path.join(pluginSource, name), path.join(pluginDir, name));
}
fs.symlinkSync(bindingSource, path.join(pluginDir, 'node_modules', 'quantclaw'), 'dir');
const { default: plugin } = await import(pathToFileURL(path.join(pluginDir, 'index.js')).href);
// The same module instance the plugin loaded (Node resolves the symlink), so instanceof holds.
const { ConfigError, Status } = createRequire(import.meta.url)(path.join(bindingSource, 'quantclaw.js'));
const manifest = JSON.parse(fs.readFileSync(path.join(pluginSource, 'openclaw.plugin.json'), 'utf8'));

const HIGH_URL = 'http://127.0.0.1:18001/v1';
const LOW_URL = 'http://127.0.0.1:18002/v1';
const LOW_KEY_ENV = 'QC_PLUGIN_TEST_LOW_KEY';
const LOW_KEY = 'low-tier-secret';
const PROVIDER_KEY = 'provider-key';
// Set for every test; the one about an unset variable takes it away.
process.env[LOW_KEY_ENV] = LOW_KEY;

let logCount = 0;
function routerConfig(extra = {}) {
  return {
    decisionLog: path.join(work, `decisions-${++logCount}.jsonl`),
    tiers: [
      { name: 'high', format: 'bf16', base_url: HIGH_URL, model: 'agent-high' },
      { name: 'low', format: 'int4', base_url: LOW_URL, model: 'agent-low', api_key_env: LOW_KEY_ENV },
    ],
    policy: {
      scorer: { kind: 'rules', default_score: 0.9, rules: [{ when: { step_kind: 'tool_followup' }, score: 0.1 }] },
      thresholds: [0.5],
    },
    ...extra,
  };
}

// register(api) with a fake api; returns the provider and commands it registered and what it logged.
function registerPlugin(pluginConfig, openclawConfig = {}) {
  const providers = [];
  const commands = [];
  const warnings = [];
  const errors = [];
  const logger = { info() {}, debug() {}, error: (line) => errors.push(line), warn: (line) => warnings.push(line) };
  const routes = [];
  plugin.register({ id: plugin.id, pluginConfig, config: openclawConfig, logger, registerProvider: (provider) => providers.push(provider),
                    registerCommand: (command) => commands.push(command), registerHttpRoute: (route) => routes.push(route) });
  assert.equal(providers.length, 1);
  return { provider: providers[0], commands, routes, warnings, errors };
}

// The part of node:http's ServerResponse a route handler uses.
function fakeResponse() {
  return {
    statusCode: 0, headers: {}, body: '',
    setHeader(name, value) { this.headers[name.toLowerCase()] = value; },
    end(chunk) { this.body += chunk ?? ''; },
  };
}

let clock = 1_760_000_000_000;
const usage = { input: 6, output: 3, cacheRead: 5, cacheWrite: 0, totalTokens: 14 };
const user = (text) => ({ role: 'user', content: text, timestamp: clock++ });
const carrier = () => ({
  role: 'user', content: [{ type: 'text', text: 'Runtime context: 1 exec session running' }],
  runtimeContextCarrier: true, timestamp: clock++,
});
const assistantText = (text, extra = {}) => ({
  role: 'assistant', content: [{ type: 'text', text }], api: 'openai-completions', provider: 'quantclaw',
  model: 'auto', usage, stopReason: 'stop', timestamp: clock++, ...extra,
});
const assistantCall = (id, name, args = {}) => assistantText('', {
  content: [{ type: 'thinking', thinking: 'the workspace first' }, { type: 'text', text: 'Listing.' },
            { type: 'toolCall', id, name, arguments: args }],
  stopReason: 'toolUse',
});
const toolResult = (id, name, text, isError = false) => ({
  role: 'toolResult', toolCallId: id, toolName: name, content: [{ type: 'text', text }], isError, timestamp: clock++,
});
const tools = [{
  name: 'ls', description: 'List files',
  // TypeBox schemas carry symbol keys; the plugin hands the library a JSON copy.
  parameters: { type: 'object', properties: { path: { type: 'string' } }, [Symbol.for('TypeBox.Kind')]: 'Object' },
}];

function deepFreeze(value) {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

// OpenClaw's resolved model for quantclaw/auto. Frozen: the plugin must route a copy.
function openclawModel() {
  return deepFreeze({
    id: 'auto', name: 'quantclaw auto', api: 'openai-completions', provider: 'quantclaw',
    baseUrl: 'http://127.0.0.1:18000/v1', reasoning: false, input: ['text'], contextWindow: 128000, maxTokens: 4096,
    headers: { 'X-Trace': 't1', authorization: `Bearer ${PROVIDER_KEY}` },
  });
}

// The inner stream function: records each call and returns a stream whose result() is the call's final
// assistant message (the next of `finals`, else a plain answer).
function fakeInner(finals = []) {
  const calls = [];
  const inner = (model, context, options) => {
    const final = finals.length > 0 ? finals.shift() : assistantText('done');
    const result = () => (final instanceof Error ? Promise.reject(final) : Promise.resolve(final));
    const stream = { events: [], result };
    calls.push({ model, context, options, stream });
    return stream;
  };
  return { inner, calls };
}

// The outcome is reported from a promise chain the stream function does not wait for.
const settle = () => new Promise((resolve) => setImmediate(resolve));

function readLog(config) {
  const text = fs.existsSync(config.decisionLog) ? fs.readFileSync(config.decisionLog, 'utf8') : '';
  const lines = text.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line));
  return {
    decisions: lines.filter((line) => line.event === 'decision'),
    outcomes: lines.filter((line) => line.event === 'outcome'),
  };
}

const SYSTEM_PROMPT = 'You are a coding agent.';
const contextOf = (messages) => ({ systemPrompt: SYSTEM_PROMPT, messages, tools });

test('the provider: quantclaw, as the manifest names it', () => {
  assert.equal(plugin.id, manifest.id);
  const { provider } = registerPlugin(routerConfig());
  assert.equal(provider.id, 'quantclaw');
  assert.ok(manifest.providers.includes(provider.id));
  assert.equal(typeof provider.wrapStreamFn, 'function');
});

test('a tool loop: each step goes to the tier the library chooses, with that tier\'s model, URL and key', async () => {
  process.env[LOW_KEY_ENV] = LOW_KEY;
  try {
    const config = routerConfig();
    const { provider, warnings } = registerPlugin(config);
    const { inner, calls } = fakeInner();
    const streamFn = provider.wrapStreamFn({ provider: 'quantclaw', modelId: 'auto', streamFn: inner });
    const model = openclawModel();
    const options = Object.freeze({ sessionId: 'sess-1', apiKey: PROVIDER_KEY, maxTokens: 512 });

    const ask = user('List the files in your workspace.');
    const context1 = contextOf([ask]);
    const returned = streamFn(model, context1, options);
    assert.equal(returned, calls[0].stream, 'the stream function returns the inner stream as it is');
    await settle();
    const call = assistantCall('call-1', 'ls', { path: '.' });
    const result = toolResult('call-1', 'ls', 'README.md\nsrc');
    streamFn(model, contextOf([ask, call, result]), options);
    await settle();
    const answer = assistantText('done: README.md and src');
    streamFn(model, contextOf([ask, call, result, answer, user('Thanks. Now the tests?')]), options);
    await settle();

    assert.equal(calls.length, 3);
    // Step 1 (the user's request, scored 0.9): the high tier, which names no api_key_env, so the call
    // keeps what OpenClaw resolved for the provider: its headers and options exactly.
    assert.equal(calls[0].model.id, 'agent-high');
    assert.equal(calls[0].model.baseUrl, HIGH_URL);
    assert.deepEqual(calls[0].model.headers, model.headers);
    assert.equal(calls[0].options, options);
    assert.equal(calls[0].context, context1);
    // Step 2 (the tool call and its result, a tool follow-up scored 0.1): the low tier, with its key in
    // one Authorization header (the provider's lower-case one is replaced) and in the options.
    assert.equal(calls[1].model.id, 'agent-low');
    assert.equal(calls[1].model.baseUrl, LOW_URL);
    assert.deepEqual(calls[1].model.headers, { 'X-Trace': 't1', Authorization: `Bearer ${LOW_KEY}` });
    assert.deepEqual(calls[1].options, { sessionId: 'sess-1', apiKey: LOW_KEY, maxTokens: 512 });
    // Step 3 (a user turn): back on the high tier, and the low tier's key does not follow it there.
    assert.equal(calls[2].model.id, 'agent-high');
    assert.equal(calls[2].model.baseUrl, HIGH_URL);
    assert.deepEqual(calls[2].model.headers, model.headers);
    assert.equal(calls[2].options.apiKey, PROVIDER_KEY);
    // Everything else of OpenClaw's model goes through, and its own object is untouched.
    for (const routed of calls) {
      const { id, baseUrl, headers, ...rest } = routed.model;
      const { id: _id, baseUrl: _baseUrl, headers: _headers, ...original } = model;
      assert.deepEqual(rest, original);
      assert.notEqual(routed.model, model);
    }
    assert.deepEqual(model, openclawModel());
    assert.equal(options.apiKey, PROVIDER_KEY);

    const { decisions } = readLog(config);
    assert.deepEqual(decisions.map((d) => [d.session, d.step, d.kind, d.tier, d.model, d.base_url]), [
      ['sess-1', 0, 'first', 'high', 'agent-high', HIGH_URL],
      ['sess-1', 1, 'tool_followup', 'low', 'agent-low', LOW_URL],
      ['sess-1', 2, 'user_turn', 'high', 'agent-high', HIGH_URL],
    ]);
    assert.deepEqual(decisions.map((d) => d.score), [0.9, 0.1, 0.9]);
    assert.deepEqual(decisions.map((d) => d.tier_counts), [{ high: 1 }, { high: 1, low: 1 }, { high: 2, low: 1 }]);
    assert.deepEqual(warnings, []);
  } finally {
    process.env[LOW_KEY_ENV] = LOW_KEY;
  }
});

test('a tier whose api_key_env is not set fails the call, naming the tier and the variable', (t) => {
  delete process.env[LOW_KEY_ENV];
  t.after(() => { process.env[LOW_KEY_ENV] = LOW_KEY; });
  const { provider } = registerPlugin(routerConfig());
  const { inner, calls } = fakeInner();
  const streamFn = provider.wrapStreamFn({ streamFn: inner });
  const model = openclawModel();
  const options = { sessionId: 's', apiKey: PROVIDER_KEY };
  const ask = user('go');
  const call = assistantCall('c', 'ls');
  streamFn(model, contextOf([ask]), options);
  assert.throws(() => streamFn(model, contextOf([ask, call, toolResult('c', 'ls', 'a')]), options),
    { message: 'quantclaw: tier "low" takes its API key from the environment variable QC_PLUGIN_TEST_LOW_KEY, '
               + 'which is not set in OpenClaw\'s environment' });
  // The provider's key never went to the low tier: nothing was called.
  assert.equal(calls.length, 1);
  assert.equal(calls[0].model.id, 'agent-high');
});

test('a decision log that cannot be written is reported once and the calls go on', async () => {
  const config = routerConfig({ decisionLog: path.join(work, 'no-such-folder', 'decisions.jsonl') });
  const { provider, warnings } = registerPlugin(config);
  const { inner, calls } = fakeInner();
  const streamFn = provider.wrapStreamFn({ streamFn: inner });
  const ask = user('go');
  streamFn(openclawModel(), contextOf([ask]), { sessionId: 'log' });
  streamFn(openclawModel(), contextOf([ask, assistantCall('c', 'ls'), toolResult('c', 'ls', 'a')]), { sessionId: 'log' });
  await settle();
  assert.equal(calls.length, 2);
  assert.equal(calls[1].model.id, 'agent-low');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /cannot write decisionLog: ENOENT/);
});

test('only the new messages are fed, never the runtime-context carrier', async () => {
  const config = routerConfig();
  const { provider } = registerPlugin(config);
  const { inner } = fakeInner();
  const streamFn = provider.wrapStreamFn({ streamFn: inner });
  const model = openclawModel();
  const options = { sessionId: 'sess-fed' };
  const history = [user('Fix the build.')];
  // OpenClaw appends a fresh carrier to each call's context and drops the previous one.
  streamFn(model, contextOf([...history, carrier()]), options);
  history.push(assistantCall('c1', 'ls'), toolResult('c1', 'ls', 'Makefile'));
  streamFn(model, contextOf([...history, carrier()]), options);
  history.push(assistantCall('c2', 'ls', { path: 'src' }), toolResult('c2', 'ls', 'error: no such directory', true));
  streamFn(model, contextOf(history), options);
  streamFn(model, contextOf([...history, carrier()]), options);  // a retry: nothing new
  // A user message with an image (named to the library, not copied) and a changed system prompt (not fed
  // again).
  history.push(assistantText('The build needs src/.'), {
    role: 'user', timestamp: clock++,
    content: [{ type: 'text', text: 'Create it, like this:' },
              { type: 'image', data: 'iVBORw0KGgo=', mimeType: 'image/png' }],
  });
  streamFn(model, { ...contextOf([...history, carrier()]), systemPrompt: 'changed' }, options);
  // A session whose first call held nothing but the carrier: its next call is its second step, not a
  // rewritten history.
  const ask = user('hello');
  streamFn(model, { messages: [carrier()] }, { sessionId: 'sess-carrier-only' });
  streamFn(model, { messages: [ask, carrier()] }, { sessionId: 'sess-carrier-only' });
  await settle();

  const { decisions } = readLog(config);
  assert.deepEqual(decisions.map((d) => [d.session, d.step, d.kind, d.fed]), [
    ['sess-fed', 0, 'first', ['system', 'user']],
    ['sess-fed', 1, 'tool_followup', ['assistant', 'tool']],
    ['sess-fed', 2, 'tool_followup', ['assistant', 'tool']],
    ['sess-fed', 3, 'continue', []],
    ['sess-fed', 4, 'user_turn', ['assistant', 'user']],
    ['sess-carrier-only', 0, 'first', []],
    ['sess-carrier-only', 1, 'user_turn', ['user']],
  ]);
});

test('each session has its own steps; no session id is session "openclaw"', () => {
  const config = routerConfig();
  const { provider } = registerPlugin(config);
  const { inner } = fakeInner();
  const streamFn = provider.wrapStreamFn({ streamFn: inner });
  const model = openclawModel();
  const a = [user('a')];
  const b = [user('b')];
  streamFn(model, contextOf(a), { sessionId: 'a' });
  streamFn(model, contextOf(b), { sessionId: 'b' });
  a.push(assistantCall('ca', 'ls'), toolResult('ca', 'ls', 'x'));
  streamFn(model, contextOf(a), { sessionId: 'a' });
  streamFn(model, contextOf([user('c')]), undefined);
  streamFn(model, contextOf([user('d')]), { sessionId: '' });

  assert.deepEqual(readLog(config).decisions.map((d) => [d.session, d.step, d.fed]), [
    ['a', 0, ['system', 'user']],
    ['b', 0, ['system', 'user']],
    ['a', 1, ['assistant', 'tool']],
    ['openclaw', 0, ['system', 'user']],
    // The same history check applies to the default session: one message, not the one fed before.
    ['openclaw', 0, ['system', 'user']],
  ]);
});

test('a rewritten history starts the session over', () => {
  const config = routerConfig();
  const { provider } = registerPlugin(config);
  const { inner } = fakeInner();
  const streamFn = provider.wrapStreamFn({ streamFn: inner });
  const model = openclawModel();
  const options = { sessionId: 'sess-compact' };
  const history = [user('Refactor the parser.'), assistantCall('c1', 'ls'), toolResult('c1', 'ls', 'parser.c')];
  streamFn(model, contextOf(history.slice(0, 1)), options);
  streamFn(model, contextOf(history), options);
  // Compaction: a summary replaces the history, shorter than what was fed.
  const summary = user('Summary: the parser is in parser.c.');
  streamFn(model, contextOf([summary]), options);
  // A repair that keeps the length but replaces the last message.
  const repaired = user('Summary, rewritten.');
  streamFn(model, contextOf([repaired]), options);
  // And an ordinary step after that continues the new session.
  streamFn(model, contextOf([repaired, assistantCall('c2', 'ls'), toolResult('c2', 'ls', 'x')]), options);

  const steps = readLog(config).decisions.map((d) => [d.step, d.kind, d.fed]);
  assert.deepEqual(steps, [
    [0, 'first', ['system', 'user']],
    [1, 'tool_followup', ['assistant', 'tool']],
    [0, 'first', ['system', 'user']],
    [0, 'first', ['system', 'user']],
    [1, 'tool_followup', ['assistant', 'tool']],
  ]);
});

test('outcomes go back to the library: tokens, status, tool-call validity', async () => {
  const config = routerConfig();
  const { provider, warnings } = registerPlugin(config);
  const { inner } = fakeInner([
    assistantCall('c1', 'ls', { path: '.' }),                  // a tool that was offered
    assistantCall('c2', 'rm', { path: '/' }),                  // one that was not
    assistantText('', { stopReason: 'error', errorMessage: 'HTTP 500: overloaded', usage: { input: 4 } }),
    assistantText('partial', { stopReason: 'aborted', usage: {} }),
    assistantCall('c5', 'ls', 'not an object'),                // an offered tool with bad arguments
  ]);
  const streamFn = provider.wrapStreamFn({ streamFn: inner });
  const model = openclawModel();
  const options = { sessionId: 'sess-out' };
  const history = [user('Clean up.')];
  streamFn(model, contextOf(history), options);
  await settle();
  history.push(assistantCall('c1', 'ls', { path: '.' }), toolResult('c1', 'ls', 'tmp'));
  streamFn(model, contextOf(history), options);
  await settle();
  history.push(assistantCall('c2', 'rm', { path: '/' }), toolResult('c2', 'rm', 'Tool rm not found', true));
  streamFn(model, contextOf(history), options);
  await settle();
  history.push(user('Try again.'));
  streamFn(model, contextOf(history), options);
  await settle();
  history.push(user('Once more.'));
  streamFn(model, contextOf(history), options);
  await settle();

  const { decisions, outcomes } = readLog(config);
  assert.deepEqual(outcomes.map((o) => [o.step, o.tier, o.status, o.input_tokens, o.cached_tokens, o.output_tokens,
                                        o.tool_call_valid]), [
    [0, 'high', 'OUTCOME_STATUS_OK', 11, 5, 3, true],
    [1, 'low', 'OUTCOME_STATUS_OK', 11, 5, 3, false],
    [2, 'high', 'OUTCOME_STATUS_ERROR', 4, 0, 0, undefined],
    [3, 'high', 'OUTCOME_STATUS_CANCELLED', 0, 0, 0, undefined],
    [4, 'high', 'OUTCOME_STATUS_OK', 11, 5, 3, false],
  ]);
  assert.ok(outcomes.every((o) => o.session === 'sess-out'));
  // The invalid tool call reached the library: step 3 is a tool follow-up (scored low) that it escalates.
  assert.equal(decisions[2].kind, 'tool_followup');
  assert.equal(decisions[2].tier, 'high');
  assert.match(decisions[2].reason, /escalated: last tool call invalid/);
  assert.deepEqual(warnings, []);
});

test('an asynchronous inner stream function, and a stream that fails, are handled', async () => {
  const config = routerConfig();
  const { provider, warnings } = registerPlugin(config);
  const { inner, calls } = fakeInner([assistantText('async'), new Error('stream failed')]);
  const asyncInner = async (...args) => inner(...args);
  const streamFn = provider.wrapStreamFn({ streamFn: asyncInner });
  const model = openclawModel();
  const first = user('one');
  const returned = streamFn(model, contextOf([first]), { sessionId: 'sess-async' });
  assert.ok(returned instanceof Promise);
  assert.equal(await returned, calls[0].stream);
  await settle();
  // A stream whose result() rejects: no outcome, nothing unhandled (the test process would fail).
  const failing = streamFn(model, contextOf([first, assistantText('async'), user('two')]), { sessionId: 'sess-async' });
  await assert.rejects((await failing).result(), /stream failed/);
  await settle();
  const { decisions, outcomes } = readLog(config);
  assert.deepEqual(decisions.map((d) => d.step), [0, 1]);
  assert.deepEqual(outcomes.map((o) => [o.step, o.status]), [[0, 'OUTCOME_STATUS_OK']]);
  assert.deepEqual(warnings, []);
});

test('a config the library rejects fails the call with its ConfigError and JSON pointer', () => {
  const cases = [
    [routerConfig({ tiers: [{ name: 'high', format: 'bf16', base_url: HIGH_URL, model: 'm', colour: 'red' }] }),
     /^\/tiers\/0\/colour: unknown key "colour"/],
    [{ decisionLog: path.join(work, 'never.jsonl') }, /^\/tiers: required array of tiers is missing/],
    [routerConfig({ tiers: [] }), /^\/tiers: must hold at least one tier/],
  ];
  for (const [config, message] of cases) {
    const { provider, errors } = registerPlugin(config);
    // The router is made when the plugin registers: the library's lines go to OpenClaw's log then.
    assert.equal(errors.length, 1);
    assert.match(errors[0], /^quantclaw: plugins\.entries\.quantclaw\.config has problems; every call fails until they are fixed:\n/);
    assert.match(errors[0].split('\n').find((line) => line.startsWith('/tiers')), message);
    // Wrapping does not fail (OpenClaw would then send the call unrouted); every call does.
    const { inner, calls } = fakeInner();
    const streamFn = provider.wrapStreamFn({ streamFn: inner });
    for (let attempt = 0; attempt < 2; ++attempt) {
      assert.throws(() => streamFn(openclawModel(), contextOf([user('hi')]), { sessionId: 's' }), (error) => {
        assert.ok(error instanceof ConfigError, `${error.name}: ${error.message}`);
        assert.equal(error.status, Status.INVALID_CONFIG);
        assert.match(error.message, message);
        return true;
      });
    }
    assert.equal(calls.length, 0);
    assert.equal(fs.existsSync(path.join(work, 'never.jsonl')), false);
  }
});

test('a pluginConfig that is not an object is a clear error', () => {
  for (const bad of [undefined, null, 'tiers', 7, [routerConfig()]]) {
    const { provider, errors } = registerPlugin(bad);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /plugins\.entries\.quantclaw\.config must be an object/);
    const streamFn = provider.wrapStreamFn({ streamFn: fakeInner().inner });
    assert.throws(() => streamFn(openclawModel(), contextOf([user('hi')]), {}),
      { name: 'Error', message: /^quantclaw: plugins\.entries\.quantclaw\.config must be an object/ });
  }
});

test('libraryPath names the library; the plugin keys never reach it', async (t) => {
  const saved = process.env.QUANTCLAW_PLUGIN;
  t.after(() => { process.env.QUANTCLAW_PLUGIN = saved; });
  delete process.env.QUANTCLAW_PLUGIN;
  // With debug too: the library rejects unknown top-level keys, so all three must be taken out.
  const config = routerConfig({ libraryPath: library, debug: true });
  const { provider } = registerPlugin(config);
  const { inner, calls } = fakeInner();
  const written = [];
  const write = process.stderr.write;
  process.stderr.write = (chunk, ...rest) => (String(chunk).startsWith('quantclaw: ') ? written.push(String(chunk)) > 0
    : write.call(process.stderr, chunk, ...rest));
  try {
    provider.wrapStreamFn({ streamFn: inner })(openclawModel(), contextOf([user('hi')]), { sessionId: 's' });
    await settle();
  } finally {
    process.stderr.write = write;
  }
  assert.equal(calls[0].model.id, 'agent-high');
  assert.deepEqual(written.map((line) => JSON.parse(line.slice('quantclaw: '.length)).event), ['decision', 'outcome']);
  assert.equal(JSON.parse(written[0].slice('quantclaw: '.length)).tier, 'high');

  // A libraryPath that names no library: koffi's load error, not the binding's search for one.
  const missing = path.join(work, 'no-such-libquantclaw.so.1');
  const { provider: broken, errors } = registerPlugin(routerConfig({ libraryPath: missing }));
  const said = `quantclaw: cannot load libquantclaw from ${missing} (libraryPath in plugins.entries.quantclaw.config): `;
  const ways = 'Set libraryPath in plugins.entries.quantclaw.config, or the QUANTCLAW_PLUGIN environment variable, '
    + 'to the path of libquantclaw.so.1';
  assert.equal(errors.length, 1);
  assert.ok(errors[0].includes(said) && errors[0].includes('cannot open shared object file') && errors[0].endsWith(ways),
    errors[0]);
  assert.throws(() => broken.wrapStreamFn({ streamFn: inner })(openclawModel(), contextOf([user('hi')]), {}),
    (error) => error.message.startsWith(said) && error.message.endsWith(ways));
  assert.equal(calls.length, 1);

  // Neither libraryPath nor QUANTCLAW_PLUGIN: the default path it tried, and the two ways again.
  const { errors: unset } = registerPlugin(routerConfig());
  assert.equal(unset.length, 1);
  assert.ok(unset[0].includes(`cannot load libquantclaw from ${path.resolve('plugins', 'libquantclaw.so.1')} `)
    && unset[0].endsWith(ways), unset[0]);
});

test('wrapStreamFn without a streamFn returns undefined and makes no router', () => {
  const { provider } = registerPlugin(routerConfig({ tiers: [] }));  // a bad config: nothing may read it
  assert.equal(provider.wrapStreamFn({}), undefined);
  assert.equal(provider.wrapStreamFn({ provider: 'quantclaw', modelId: 'auto', streamFn: undefined }), undefined);
  const { provider: unconfigured } = registerPlugin(null);
  assert.equal(unconfigured.wrapStreamFn({ streamFn: null }), undefined);
});

test('failed calls report how they failed; an open breaker moves the retry up the ladder', async () => {
  // OpenClaw's final message of a failed call: errorCode is the HTTP status or the network error's code.
  const failed = (errorMessage, errorCode) => assistantText('', {
    stopReason: 'error', errorMessage, usage: {}, ...(errorCode === undefined ? {} : { errorCode }) });
  const config = routerConfig({ backend: { breaker_failures: 2, breaker_open_ms: 60000 } });
  const { provider, warnings } = registerPlugin(config);
  const { inner, calls } = fakeInner([
    assistantCall('c1', 'ls'),
    failed('Connection error.', 'ECONNREFUSED'),
    failed('Request timed out.'),
    failed('503: {"error": "loading model"}', '503'),
    failed('400 status code (no body)'),
    failed('Provider returned an incomplete or malformed tool call'),
  ]);
  const streamFn = provider.wrapStreamFn({ streamFn: inner });
  const model = openclawModel();
  const options = { sessionId: 'sess-failover' };
  const history = [user('List them.')];
  streamFn(model, contextOf(history), options);
  await settle();
  history.push(assistantCall('c1', 'ls'), toolResult('c1', 'ls', 'a'));
  // The tool follow-up goes to the low tier, which is down; OpenClaw retries the same call (a "continue"
  // step, scored high here, so the retries on the high tier show each kind of failure).
  streamFn(model, contextOf(history), options);
  await settle();
  for (let retry = 0; retry < 4; ++retry) {
    streamFn(model, contextOf(history), options);
    await settle();
  }
  const { decisions, outcomes } = readLog(config);
  assert.deepEqual(outcomes.map((o) => [o.step, o.tier, o.status, o.http_status]), [
    [0, 'high', 'OUTCOME_STATUS_OK', undefined],
    [1, 'low', 'OUTCOME_STATUS_UNAVAILABLE', undefined],
    [2, 'high', 'OUTCOME_STATUS_TIMEOUT', undefined],
    [3, 'high', 'OUTCOME_STATUS_ERROR', 503],
    [4, 'high', 'OUTCOME_STATUS_ERROR', 400],
    [5, 'high', 'OUTCOME_STATUS_ERROR', 0],
  ]);
  assert.equal(outcomes[1].error_code, 'ECONNREFUSED');
  assert.equal(calls.length, 6);
  assert.deepEqual(warnings, []);

  // The low tier down, as OpenClaw meets it: a tool follow-up fails, OpenClaw retries the same call (a
  // "continue" step, scored low here too), that fails, and the breaker (2 failures in a row) opens: the
  // next retry goes up the ladder, saying so, and succeeds.
  const lowConfig = routerConfig({
    backend: { breaker_failures: 2, breaker_open_ms: 60000 },
    policy: { scorer: { kind: 'rules', default_score: 0.9, rules: [{ when: { step_kind: 'tool_followup' }, score: 0.1 },
                                                                    { when: { step_kind: 'continue' }, score: 0.1 }] },
              thresholds: [0.5] },
  });
  const down = registerPlugin(lowConfig);
  const refused = () => failed('Connection error.', 'ECONNREFUSED');
  const downInner = fakeInner([assistantCall('d1', 'ls'), refused(), refused(), assistantText('done: b')]);
  const downStream = down.provider.wrapStreamFn({ streamFn: downInner.inner });
  const turn = [user('Again.')];
  downStream(model, contextOf(turn), { sessionId: 'sess-breaker' });
  await settle();
  turn.push(assistantCall('d1', 'ls'), toolResult('d1', 'ls', 'b'));
  for (let attempt = 0; attempt < 3; ++attempt) {
    downStream(model, contextOf(turn), { sessionId: 'sess-breaker' });
    await settle();
  }
  const log = readLog(lowConfig);
  assert.deepEqual(log.decisions.map((d) => [d.step, d.kind, d.tier]), [
    [0, 'first', 'high'], [1, 'tool_followup', 'low'], [2, 'continue', 'low'], [3, 'continue', 'high']]);
  assert.match(log.decisions[3].reason, /failover: low's circuit breaker is open -> high/);
  assert.deepEqual(log.outcomes.map((o) => o.status), ['OUTCOME_STATUS_OK', 'OUTCOME_STATUS_UNAVAILABLE',
                                                       'OUTCOME_STATUS_UNAVAILABLE', 'OUTCOME_STATUS_OK']);
  assert.deepEqual(downInner.calls.map((call) => call.model.id), ['agent-high', 'agent-low', 'agent-low', 'agent-high']);
});

test('a session survives turns: the stored user message differs from the live one only in its timestamp', () => {
  const config = routerConfig();
  const { provider } = registerPlugin(config);
  const { inner } = fakeInner();
  const streamFn = provider.wrapStreamFn({ streamFn: inner });
  const model = openclawModel();
  const options = { sessionId: 'sess-turns' };
  // Turn 1, a tool loop.
  const ask1 = user('List the files.');
  streamFn(model, contextOf([ask1]), options);
  const history = [ask1, assistantCall('c1', 'ls'), toolResult('c1', 'ls', 'a'), assistantText('done: a')];
  streamFn(model, contextOf(history.slice(0, 3)), options);
  // Turn 2, plain chat: the live user message, then in turn 3's history the stored one, with another
  // timestamp (the field and the envelope OpenClaw puts at the start of the text) and its text as a text
  // block.
  const live = user('[Sun 2026-11-29 15:50 UTC] Thanks!');
  streamFn(model, contextOf([...history, live]), options);
  // OpenClaw's retry of a failed call wraps the prompt in a note: the same turn, nothing new.
  streamFn(model, contextOf([...history, user('[Sun 2026-11-29 15:50 UTC] [Retrying: continue with the active '
    + 'prompt below.]\nThanks!\n\nContinue the current task from the existing transcript.')]), options);
  const stored = { role: 'user', content: [{ type: 'text', text: '[Sun 2026-11-29 15:49 UTC] Thanks!' }],
                   timestamp: live.timestamp - 4545 };
  history.push(stored, assistantText('You are welcome.'));
  // Turn 3, a tool loop again.
  const ask3 = user('And src?');
  streamFn(model, contextOf([...history, ask3]), options);
  history.push(ask3, assistantCall('c3', 'ls', { path: 'src' }), toolResult('c3', 'ls', 'main.c'));
  streamFn(model, contextOf(history), options);

  assert.deepEqual(readLog(config).decisions.map((d) => [d.step, d.kind, d.fed, d.tier]), [
    [0, 'first', ['system', 'user'], 'high'],
    [1, 'tool_followup', ['assistant', 'tool'], 'low'],
    [2, 'user_turn', ['assistant', 'user'], 'high'],
    [3, 'continue', [], 'high'],
    [4, 'user_turn', ['assistant', 'user'], 'high'],
    [5, 'tool_followup', ['assistant', 'tool'], 'low'],
  ]);
  // OpenClaw's retry of a failed call replays the stored history, with its tool call ids repaired (every
  // call of the loopback tiers is "call_1"): the same session, a step with nothing new.
  const replayed = [...history.slice(0, -2), assistantCall('call_1_2', 'ls', { path: 'src' }),
                    toolResult('call_1_2', 'ls', 'main.c')];
  streamFn(model, contextOf(replayed), options);
  const retry = readLog(config).decisions.at(-1);
  assert.deepEqual([retry.step, retry.kind, retry.fed, retry.session_start], [6, 'continue', [], undefined]);
  // An edited message (the last one fed, which the plugin compares) is still a rewritten history.
  const edited = [...history.slice(0, -1), toolResult('c3', 'ls', 'main.c\nutil.c')];
  streamFn(model, contextOf(edited), options);
  const last = readLog(config).decisions.at(-1);
  assert.deepEqual([last.step, last.kind, last.session_start], [0, 'first', 'restarted']);
});

test('a session the plugin has not seen, with history (a new --local process), resumes, not first', () => {
  const history = [user('List the files.'), assistantCall('c1', 'ls'), toolResult('c1', 'ls', 'a'),
                   assistantText('done: a')];
  const config = routerConfig();
  const { provider, commands, routes } = registerPlugin(config);
  const streamFn = provider.wrapStreamFn({ streamFn: fakeInner().inner });
  const model = openclawModel();
  // A plain chat turn: the history and the new user message in one step, numbered after the two calls
  // the history holds.
  streamFn(model, contextOf([...history, user('Thanks!')]), { sessionId: 'sess-resumed' });
  // Another process resumes in the middle of a tool loop (its first call there is a tool follow-up).
  const other = registerPlugin(routerConfig({ decisionLog: config.decisionLog }));
  const otherStream = other.provider.wrapStreamFn({ streamFn: fakeInner().inner });
  otherStream(model, contextOf([...history, user('And src?'), assistantCall('c2', 'ls'), toolResult('c2', 'ls', 'b')]),
    { sessionId: 'sess-resumed-2' });
  // A session with no assistant message yet is simply new.
  otherStream(model, contextOf([user('hi')]), { sessionId: 'sess-new' });
  const decisions = readLog(config).decisions;
  assert.deepEqual(decisions.map((d) => [d.session, d.step, d.kind, d.fed, d.tier]), [
    ['sess-resumed', 2, 'user_turn', ['system', 'user', 'assistant', 'tool', 'assistant', 'user'], 'high'],
    ['sess-resumed-2', 3, 'tool_followup', ['system', 'user', 'assistant', 'tool', 'assistant', 'user', 'assistant',
                                            'tool'], 'low'],
    ['sess-new', 0, 'first', ['system', 'user'], 'high'],
  ]);
  assert.deepEqual(decisions.map((d) => d.session_start), ['resumed', 'resumed', undefined]);
  // Decision lines carry the process id.
  assert.ok(decisions.every((d) => d.pid === process.pid));
  // The /quantclaw command: this process's counts and the library's metrics, of the registration that
  // routed the latest call (OpenClaw registers a plugin more than once in a gateway): the second one's,
  // even through the first one's command.
  assert.equal(commands.length, 1);
  assert.equal(commands[0].name, 'quantclaw');
  const { text } = commands[0].handler({});
  assert.match(text, new RegExp(`^quantclaw \\(process ${process.pid}\\): steps per tier: low 1, high 1\n`));
  assert.match(text, /\nquantclaw_decisions_total 2\n/);
  streamFn(model, contextOf([...history, user('Thanks!'), assistantText('chat: ok'), user('More?')]),
    { sessionId: 'sess-resumed' });
  assert.match(commands[0].handler({}).text, /steps per tier: high 2\n/);
  assert.ok(text.length > 80, text);
  // The same text at GET /quantclaw/metrics, behind the gateway's auth; other methods are refused.
  assert.equal(routes.length, 1);
  assert.deepEqual([routes[0].path, routes[0].auth, routes[0].match], ['/quantclaw/metrics', 'gateway', 'exact']);
  const got = fakeResponse();
  assert.equal(routes[0].handler({ method: 'GET' }, got), true);
  assert.equal(got.statusCode, 200);
  assert.equal(got.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(got.body, `${commands[0].handler({}).text}\n`);
  assert.match(got.body, /steps per tier: high 2\n/);
  const posted = fakeResponse();
  routes[0].handler({ method: 'POST' }, posted);
  assert.deepEqual([posted.statusCode, posted.headers.allow, posted.body], [405, 'GET, HEAD', '']);
});

test('a plugin that did not load answers /quantclaw/metrics with 503 and the reason', () => {
  const { routes } = registerPlugin(routerConfig({ libraryPath: '/nonexistent/libquantclaw.so.1' }));
  const got = fakeResponse();
  routes[0].handler({ method: 'GET' }, got);
  assert.equal(got.statusCode, 503);
  assert.match(got.body, /cannot load libquantclaw from \/nonexistent\/libquantclaw\.so\.1/);
});

test('a tier listed in models.providers.quantclaw.models is priced and sized by its own entry', () => {
  const lowCost = { input: 0.1, output: 0.2, cacheRead: 0.01, cacheWrite: 0 };
  const config = routerConfig();
  const { provider } = registerPlugin(config, { models: { providers: { quantclaw: { models: [
    { id: 'auto', name: 'quantclaw auto' },
    { id: 'agent-low', name: 'low tier', cost: lowCost, contextWindow: 65536, maxTokens: 2048 },
  ] } } } });
  const { inner, calls } = fakeInner();
  const streamFn = provider.wrapStreamFn({ streamFn: inner });
  const model = openclawModel();
  const ask = user('go');
  streamFn(model, contextOf([ask]), { sessionId: 'priced' });
  streamFn(model, contextOf([ask, assistantCall('c', 'ls'), toolResult('c', 'ls', 'a')]), { sessionId: 'priced' });
  // The high tier is not listed: quantclaw/auto's own fields.
  assert.equal(calls[0].model.id, 'agent-high');
  assert.deepEqual([calls[0].model.cost, calls[0].model.contextWindow, calls[0].model.maxTokens],
                   [model.cost, 128000, 4096]);
  assert.equal(calls[1].model.id, 'agent-low');
  assert.deepEqual([calls[1].model.cost, calls[1].model.contextWindow, calls[1].model.maxTokens], [lowCost, 65536, 2048]);
  assert.equal(calls[1].model.name, model.name);
});
