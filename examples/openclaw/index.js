// quantclaw as an OpenClaw provider plugin: provider "quantclaw", model "auto".
//
// OpenClaw calls the stream function that wrapStreamFn returns once per LLM call, so once per step of a
// tool loop (before_model_resolve fires once per turn, too coarse for per-step routing). Each call hands
// libquantclaw the step (the messages new since this session's previous step and the tools offered),
// asks for the tier, and sends the call to that tier: its model id, base URL and API key replace the
// logical quantclaw/auto ones. OpenClaw's own llm_output still names quantclaw/auto, so the per-tier
// counts live here, in every line of the decision log.
//
// plugins.entries.quantclaw.config is the config the C ABI takes (tiers, policy, limits, ...) plus three
// keys of the plugin's own, removed before the library sees it:
//   libraryPath   the .so (default: $QUANTCLAW_PLUGIN, then plugins/libquantclaw.so.1)
//   decisionLog   a file that gets a JSON line per step ("decision": process id, session, step, kind, tier,
//                 model, URL, reason, the per-tier counts so far) and per finished call ("outcome": tokens,
//                 status, HTTP status)
//   debug         true: the same lines on stderr
//
// Sessions: OpenClaw hands each call the whole history. The plugin remembers per session how many messages
// it fed and a digest of the last one (role and content, less what OpenClaw changes between calls: the
// time at the start of a user message, tool call ids, a retry's note around the prompt), feeds only what
// is new, and starts the session over when the history was
// rewritten (compaction). A session the plugin has not seen whose history already holds assistant
// messages (a new `openclaw agent --local` process, a restarted gateway) is resumed, not started: the
// whole history goes in as one step whose index is the number of assistant messages before it (one per
// earlier call) and whose kind is what its newest messages make it (user_turn after a user message).
// Per-process state (escalation after an invalid tool call, the breakers, budgets) does not survive a
// process.
//
// Loading: openclaw.plugin.json asks for activation at gateway startup (activation.onStartup), so that a
// gateway checks the config and loads the library when it starts, not at the first model call, and the
// /quantclaw/metrics route is served (without it, OpenClaw 2026.9.6 loads a provider plugin at its first
// model call, and the route of a plugin loaded that way was not served: the Control UI answered it).
//
// Failover: every call's outcome goes back to the library with its status (connection refused ->
// UNAVAILABLE, a timeout -> TIMEOUT, an HTTP error -> ERROR with its http_status), which feeds the tier's
// circuit breaker; once it opens, the library moves the next call (OpenClaw's own retry) up the ladder.
// The plugin itself retries nothing.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
// The Node binding (examples/node), a dependency bundled inside this package's tarball
// (bundleDependencies, with koffi): OpenClaw installs a plugin archive without fetching dependencies, so
// the binding travels in the plugin's own node_modules and is imported as a package, never by a path
// that leaves the plugin's folder.
import quantclaw from 'quantclaw';

const PLUGIN_ID = 'quantclaw';
const PROVIDER_ID = 'quantclaw';
const PLUGIN_KEYS = ['libraryPath', 'decisionLog', 'debug'];
const METRICS_ROUTE = '/quantclaw/metrics';
// Sessions whose fed-message count the plugin remembers (the library's own default limit).
const MAX_SESSIONS = 10000;

function splitConfig(pluginConfig) {
  if (pluginConfig === null || typeof pluginConfig !== 'object' || Array.isArray(pluginConfig)) {
    throw new Error('quantclaw: plugins.entries.quantclaw.config must be an object holding the router config');
  }
  const routerConfig = { ...pluginConfig };
  for (const key of PLUGIN_KEYS) delete routerConfig[key];
  return {
    routerConfig,
    libraryPath: pluginConfig.libraryPath,
    decisionLog: pluginConfig.decisionLog,
    debug: pluginConfig.debug === true,
  };
}

// OpenClaw's messages (user / assistant with text, thinking and toolCall blocks / toolResult) in the
// OpenAI chat shape quantclaw.v1.Step takes. Images are named, not copied: the router counts text.
function textOf(blocks) {
  if (typeof blocks === 'string') return blocks;
  if (!Array.isArray(blocks)) return '';
  return blocks.filter((block) => block && block.type === 'text').map((block) => block.text).join('\n');
}

function contentParts(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((block) => (block && block.type === 'image'
    ? { type: 'image_url', image_url: { url: `data:${block.mimeType || 'image'};base64,(omitted)` } }
    : { type: 'text', text: block && typeof block.text === 'string' ? block.text : '' }));
}

function toChatMessage(message) {
  switch (message && message.role) {
    case 'user':
      return { role: 'user', content: contentParts(message.content) };
    case 'assistant': {
      const blocks = Array.isArray(message.content) ? message.content : [];
      const toolCalls = blocks.filter((block) => block && block.type === 'toolCall').map((call) => ({
        id: String(call.id ?? ''),
        type: 'function',
        function: { name: String(call.name ?? ''), arguments: JSON.stringify(call.arguments ?? {}) },
      }));
      const chat = { role: 'assistant', content: textOf(blocks) };
      if (toolCalls.length > 0) chat.tool_calls = toolCalls;
      return chat;
    }
    case 'toolResult':
      return { role: 'tool', tool_call_id: String(message.toolCallId ?? ''), name: String(message.toolName ?? ''),
               content: textOf(message.content), is_error: message.isError === true };
    default:
      return null;
  }
}

function toolSpecs(tools) {
  if (!Array.isArray(tools)) return [];
  return tools.filter((tool) => tool && typeof tool.name === 'string').map((tool) => ({
    type: 'function',
    function: {
      name: tool.name,
      description: typeof tool.description === 'string' ? tool.description : '',
      // A round trip drops what JSON cannot carry (TypeBox's symbol keys).
      parameters: tool.parameters && typeof tool.parameters === 'object'
        ? JSON.parse(JSON.stringify(tool.parameters)) : {},
    },
  }));
}

function withAuthorization(headers, key) {
  const next = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() !== 'authorization') next[name] = value;
  }
  next.Authorization = `Bearer ${key}`;
  return next;
}

// Identifies a message well enough to notice that OpenClaw rewrote the history (compaction) under us: its
// role and content in the chat shape (text, tool names and arguments), never volatile fields: the live
// user message and the one OpenClaw stores in the history carry different timestamps, and a retry
// replays the stored history, whose tool call ids OpenClaw may repair. Text parts are joined, so a string
// and the same text as one text block are the same message.
// OpenClaw starts the text of a user message with the time it was sent ("[Sun 2026-11-29 15:50 UTC] "),
// and the copy it stores may carry another.
const TIME_ENVELOPE = /^\[[A-Z][a-z]{2} \d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?( [A-Za-z0-9+:-]{1,8})?\] /;

function messageText(chat) {
  const text = Array.isArray(chat.content)
    ? chat.content.map((part) => (part.type === 'text' ? part.text : `[${part.type}]`)).join('\n') : chat.content;
  return chat.role === 'user' ? text.replace(TIME_ENVELOPE, '') : text;
}

// The last message fed, as the next call's history is checked against it.
function lastFed(message) {
  const chat = message === undefined ? null : toChatMessage(message);
  return { key: message === undefined ? '' : messageKey(message), userText: chat?.role === 'user' ? messageText(chat) : null };
}

// Whether `message` is the one remembered by lastFed: the same digest, or a user message whose text holds
// the remembered one (OpenClaw's retry of a failed call wraps the turn's prompt in a note: "Continue the
// current task from the existing transcript ...").
function sameMessage(message, last) {
  if (messageKey(message) === last.key) return true;
  if (!last.userText) return false;
  const chat = toChatMessage(message);
  return chat?.role === 'user' && messageText(chat).includes(last.userText);
}

function messageKey(message) {
  const chat = toChatMessage(message);
  if (chat === null) return `${message?.role}`;
  const content = messageText(chat);
  const calls = (chat.tool_calls ?? []).map((call) => [call.function.name, call.function.arguments]);
  return crypto.createHash('sha256').update(JSON.stringify([chat.role, content, calls, chat.name ?? null]))
    .digest('base64url');
}

// The step kind of a resumed session's first step: what the library infers from a step's new messages,
// applied to those after the last assistant message.
function resumedStepKind(messages) {
  let last = messages.length - 1;
  while (last >= 0 && messages[last]?.role !== 'assistant') --last;
  const newer = messages.slice(last + 1);
  if (newer.length > 0 && newer[newer.length - 1]?.role === 'toolResult') return 'tool_followup';
  if (newer.some((message) => message?.role === 'user')) return 'user_turn';
  return 'continue';
}

// How a failed call failed, from OpenClaw's final assistant message (stopReason "error"; errorCode is the
// HTTP status or the network error's code, errorMessage starts with the HTTP status when there is one).
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH',
  'EHOSTDOWN', 'ENETDOWN', 'EAI_AGAIN', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT']);

function failureOf(message) {
  const code = typeof message.errorCode === 'string' ? message.errorCode.toUpperCase()
    : Number.isInteger(message.errorCode) ? String(message.errorCode) : '';
  const text = typeof message.errorMessage === 'string' ? message.errorMessage : '';
  const http = /^[1-5]\d\d$/.test(code) ? Number(code) : Number((/^([1-5]\d\d)\b/.exec(text) ?? [])[1] ?? 0);
  if (http > 0) return { status: 'OUTCOME_STATUS_ERROR', http_status: http };
  if (TIMEOUT_CODES.has(code) || /\btimed? ?out\b|\btimeout\b/i.test(text)) return { status: 'OUTCOME_STATUS_TIMEOUT' };
  if (UNAVAILABLE_CODES.has(code)
      || /ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|connection (error|refused)|fetch failed|socket hang up/i.test(text)) {
    return { status: 'OUTCOME_STATUS_UNAVAILABLE' };
  }
  // Anything else (a malformed stream, an invalid tool call) is an error without an HTTP status, which the
  // library counts against the tier.
  return { status: 'OUTCOME_STATUS_ERROR', http_status: 0 };
}

// Errors at load time, said so that the operator can act on them.
function loadError(error, libraryPath) {
  if (error instanceof quantclaw.QuantClawError) return error;  // the library's own message (config, ABI)
  const tried = libraryPath || process.env.QUANTCLAW_PLUGIN || path.resolve('plugins', 'libquantclaw.so.1');
  const from = libraryPath ? 'libraryPath in plugins.entries.quantclaw.config'
    : process.env.QUANTCLAW_PLUGIN ? '$QUANTCLAW_PLUGIN' : 'the default, relative to the working directory';
  const wrapped = new Error(`quantclaw: cannot load libquantclaw from ${tried} (${from}): ${error.message}. `
    + 'Set libraryPath in plugins.entries.quantclaw.config, or the QUANTCLAW_PLUGIN environment variable, '
    + 'to the path of libquantclaw.so.1');
  wrapped.cause = error;
  return wrapped;
}

// models.providers.quantclaw.models entries by model id. A tier whose model id is listed there is priced
// and sized by its own entry (cost, contextWindow, maxTokens): OpenClaw computes a call's cost from the
// model the stream function is given, so without it every tier is priced as quantclaw/auto.
const TIER_MODEL_FIELDS = ['cost', 'contextWindow', 'maxTokens'];
function catalogOf(openclawConfig) {
  const models = openclawConfig?.models?.providers?.[PROVIDER_ID]?.models;
  const catalog = new Map();
  for (const entry of Array.isArray(models) ? models : []) {
    if (entry && typeof entry.id === 'string') catalog.set(entry.id, entry);
  }
  return catalog;
}

class QuantClawRouting {
  constructor(pluginConfig, logger, openclawConfig) {
    this.catalog = catalogOf(openclawConfig);
    this.settings = splitConfig(pluginConfig);
    this.logger = logger;
    this.router = null;
    this.tiers = this.settings.routerConfig.tiers;
    this.sessions = new Map();  // session id -> { fed, last: lastFed(the last message fed) }
    this.tierCounts = {};  // per process, as the library's own metrics
  }

  // Made when the plugin registers, so that a missing library or a config the library rejects shows in
  // OpenClaw's output at load time (and fails every call after, never leaving a turn unrouted).
  ensureRouter() {
    if (this.router !== null) return this.router;
    const library = this.settings.libraryPath ? { library: this.settings.libraryPath } : {};
    try {
      this.router = new quantclaw.Router(this.settings.routerConfig, library);
    } catch (error) {
      throw loadError(error, this.settings.libraryPath);
    }
    return this.router;
  }

  feed(router, step) {
    try {
      router.onStep(step);
    } catch (error) {
      // The library still holds a session the plugin forgot (evicted from its map): a resumed step's
      // index is then below the library's. Start it over.
      if (!(error instanceof quantclaw.QuantClawError) || error.status !== quantclaw.Status.OUT_OF_ORDER) throw error;
      try { router.endSession(step.session_id); } catch { /* already expired */ }
      const { step_index: _index, hints: _hints, ...fresh } = step;
      router.onStep(fresh);
    }
  }

  // Feeds the messages OpenClaw has added since this session's previous call; returns the decision and
  // the roles of the messages fed.
  decide(sessionId, context, options) {
    const router = this.ensureRouter();
    // OpenClaw appends a runtime-context carrier (a user message of runtime facts such as active exec
    // sessions) to a call's context and drops it from the next one: it is not conversation, and counting
    // it would make every call look like a rewritten history.
    const messages = (Array.isArray(context?.messages) ? context.messages : [])
      .filter((message) => message?.runtimeContextCarrier !== true);
    let session = this.sessions.get(sessionId);
    let resumed = false;
    let restarted = false;
    if (session && (messages.length < session.fed
                    || (session.fed > 0 && !sameMessage(messages[session.fed - 1], session.last)))) {
      // The history was rewritten (compaction, a replay repair): start the session over, on purpose.
      try { router.endSession(sessionId); } catch { /* already expired */ }
      restarted = true;
      session = undefined;
    } else if (!session) {
      resumed = messages.some((message) => message?.role === 'assistant');
    }
    if (!session) session = { fed: 0, last: lastFed(undefined) };
    const fresh = [];
    if (session.fed === 0 && typeof context?.systemPrompt === 'string' && context.systemPrompt !== '') {
      fresh.push({ role: 'system', content: context.systemPrompt });
    }
    for (const message of messages.slice(session.fed)) {
      const chat = toChatMessage(message);
      if (chat !== null) fresh.push(chat);
    }
    const request = { tools: toolSpecs(context?.tools), stream: true };
    if (Number.isInteger(options?.maxTokens) && options.maxTokens > 0) request.max_tokens = options.maxTokens;
    const step = { session_id: sessionId, messages: fresh, request };
    if (resumed) {
      step.step_index = messages.filter((message) => message?.role === 'assistant').length;
      step.hints = { step_kind: resumedStepKind(messages) };
    }
    this.feed(router, step);
    // With nothing new (a retry) the remembered message stays: a retry's wrapped prompt is not what the
    // stored history holds next turn, the original prompt is.
    if (messages.length !== session.fed) session.last = lastFed(messages[messages.length - 1]);
    session.fed = messages.length;
    // Most recently used last; the oldest go once there are more than the library keeps anyway.
    this.sessions.delete(sessionId);
    this.sessions.set(sessionId, session);
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value);
    return { decision: router.choosePrecision(sessionId), fed: fresh.map((message) => message.role), resumed,
             restarted };
  }

  // The log is for the operator: a log that cannot be written is reported once, and the agent's call
  // goes on.
  log(entry) {
    const { decisionLog, debug } = this.settings;
    if (!decisionLog && !debug) return;
    const line = JSON.stringify({ time: new Date().toISOString(), pid: process.pid, ...entry });
    if (decisionLog) {
      try {
        fs.appendFileSync(decisionLog, line + '\n');
      } catch (error) {
        if (!this.logFailed) this.logger?.warn?.(`quantclaw: cannot write decisionLog: ${error.message}`);
        this.logFailed = true;
      }
    }
    if (debug) process.stderr.write(`quantclaw: ${line}\n`);
  }

  // session_start: "resumed" (a session this process had not seen, with history) or "restarted" (the
  // history was rewritten), on the session's first step in this process.
  record(sessionId, decision, tier, fed, sessionStart) {
    this.tierCounts[tier.name] = (this.tierCounts[tier.name] ?? 0) + 1;
    this.log({
      event: 'decision', session: sessionId, session_start: sessionStart, step: decision.stepIndex,
      kind: decision.stepKind, fed, tier: tier.name,
      model: tier.model, base_url: tier.base_url, score: decision.score, forced: decision.forced,
      reason: decision.reason, tier_counts: this.tierCounts,
    });
  }

  // What the call did, from OpenClaw's final assistant message: tokens, status, and whether its tool
  // calls name tools that were offered (an invalid one escalates the session's next step).
  reportOutcome(sessionId, decision, tier, offered, started, message) {
    if (!message || typeof message !== 'object') return;
    const usage = message.usage ?? {};
    const count = (value) => (Number.isFinite(value) && value > 0 ? Math.trunc(value) : 0);
    const outcome = {
      session_id: sessionId,
      step_index: decision.stepIndex,
      tier_name: tier.name,
      // OpenClaw counts cache reads and writes apart from input; quantclaw's input is the whole prompt.
      input_tokens: count(usage.input) + count(usage.cacheRead) + count(usage.cacheWrite),
      output_tokens: count(usage.output),
      cached_tokens: count(usage.cacheRead),
      latency_ms: Date.now() - started,
      ...(message.stopReason === 'error' ? failureOf(message)
        : { status: message.stopReason === 'aborted' ? 'OUTCOME_STATUS_CANCELLED' : 'OUTCOME_STATUS_OK' }),
    };
    const calls = (Array.isArray(message.content) ? message.content : []).filter((block) => block?.type === 'toolCall');
    if (calls.length > 0) {
      outcome.tool_call_valid = calls.every((call) => offered.has(call.name) && call.arguments !== null
        && typeof call.arguments === 'object' && !Array.isArray(call.arguments));
    }
    if (message.errorMessage) outcome.error_message = String(message.errorMessage).slice(0, 1024);
    try {
      this.ensureRouter().reportOutcome(outcome);
      this.log({
        event: 'outcome', session: sessionId, step: decision.stepIndex, tier: tier.name, status: outcome.status,
        http_status: outcome.http_status, error_code: message.errorCode, input_tokens: outcome.input_tokens, output_tokens: outcome.output_tokens, cached_tokens: outcome.cached_tokens,
        tool_call_valid: outcome.tool_call_valid,
      });
    } catch (error) {
      this.logger?.warn?.(`quantclaw: reportOutcome failed: ${error.message}`);
    }
  }

  // The StreamFn OpenClaw calls once per LLM call.
  wrap(inner) {
    return (model, context, options) => {
      const sessionId = typeof options?.sessionId === 'string' && options.sessionId !== ''
        ? options.sessionId : 'openclaw';
      const { decision, fed, resumed, restarted } = this.decide(sessionId, context, options);
      const tier = this.tiers[decision.tierIndex];
      this.record(sessionId, decision, tier, fed, resumed ? 'resumed' : restarted ? 'restarted' : undefined);
      const routedModel = { ...model, id: tier.model || model.id, baseUrl: tier.base_url || model.baseUrl };
      const listed = tier.model ? this.catalog.get(tier.model) : undefined;
      for (const field of TIER_MODEL_FIELDS) {
        if (listed?.[field] !== undefined) routedModel[field] = listed[field];
      }
      // The tier's key, read from its api_key_env at call time. OpenClaw's embedded runner sets the
      // provider's resolved key on the options below this wrapper, so the key goes in as the model's
      // Authorization header, which the OpenAI-compatible transports send as given. Without
      // api_key_env the call keeps models.providers.quantclaw's key; with one that is not set, the call
      // fails rather than send another tier's key.
      const key = tier.api_key_env ? process.env[tier.api_key_env] : undefined;
      if (tier.api_key_env && !key) {
        throw new Error(`quantclaw: tier "${tier.name}" takes its API key from the environment variable `
          + `${tier.api_key_env}, which is not set in OpenClaw's environment`);
      }
      if (key) routedModel.headers = withAuthorization(model.headers, key);
      const routedOptions = key ? { ...options, apiKey: key } : options;
      const offered = new Set((Array.isArray(context?.tools) ? context.tools : []).map((tool) => tool?.name));
      const started = Date.now();
      const result = inner(routedModel, context, routedOptions);
      // The outcome is read from the stream's final message without consuming its events.
      Promise.resolve(result)
        .then((stream) => (typeof stream?.result === 'function' ? stream.result() : null))
        .then((message) => this.reportOutcome(sessionId, decision, tier, offered, started, message), () => {});
      return result;
    };
  }
}

// The text of the /quantclaw command: the per-tier counts of this process and the library's metrics.
function metricsText(routing) {
  const counts = Object.entries(routing.tierCounts).map(([name, count]) => `${name} ${count}`).join(', ');
  return `quantclaw (process ${process.pid}): steps per tier: ${counts || 'none yet'}\n\n${routing.router.metrics()}`;
}

// OpenClaw 2026.9.6 registers the plugin more than once in one gateway process (its startup registry,
// which serves HTTP routes, and the registry its agent runs use), from separate loads of this module, and
// each registration makes its own router. The command and the route report the registration that routed
// the latest call (before any call, the latest registered), so that they show the router the turns went
// through: kept on globalThis under a registered symbol, which every load of the module shares.
const ACTIVE = Symbol.for('quantclaw.openclaw.activeRegistration');
const setActive = (registration) => { globalThis[ACTIVE] = registration; };

function activeText() {
  const active = globalThis[ACTIVE];
  return active.failure !== null ? active.failure.message : metricsText(active.routing);
}

export default {
  id: PLUGIN_ID,
  name: 'quantclaw',
  description: 'Per-step precision routing: each LLM call of an agent goes to the tier libquantclaw chooses',
  register(api) {
    // The config is checked and the library loaded now: what is wrong shows when OpenClaw loads the
    // plugin, in its output and log, with the library's "pointer: reason" lines. The provider is
    // registered all the same, with calls that fail with the same message: a turn is never sent
    // unrouted (model "auto") to the provider's baseUrl.
    let routing = null;
    let failure = null;
    try {
      routing = new QuantClawRouting(api.pluginConfig, api.logger, api.config);
      routing.ensureRouter();
    } catch (error) {
      failure = error;
      api.logger?.error?.(error instanceof quantclaw.ConfigError
        ? `quantclaw: plugins.entries.quantclaw.config has problems; every call fails until they are fixed:\n${error.message}`
        : `${error.message.startsWith('quantclaw: ') ? '' : 'quantclaw: '}${error.message}`);
    }
    const registration = { routing, failure };
    setActive(registration);
    api.registerProvider({
      id: PROVIDER_ID,
      label: 'quantclaw',
      auth: [],
      wrapStreamFn: (ctx) => {
        if (!ctx.streamFn) return undefined;
        if (failure !== null) return () => { setActive(registration); throw failure; };
        const routed = routing.wrap(ctx.streamFn);
        return (model, context, options) => {
          setActive(registration);
          return routed(model, context, options);
        };
      },
    });
    // /quantclaw in a chat (or the gateway's command surfaces): what this process routed so far.
    if (typeof api.registerCommand === 'function') {
      api.registerCommand({
        name: 'quantclaw',
        description: 'quantclaw: steps per tier and the router\'s metrics (this process)',
        acceptsArgs: false,
        handler: () => ({ text: activeText() }),
      });
    }
    // GET /quantclaw/metrics on the gateway's HTTP port, behind the gateway's own auth (its token or
    // password as a Bearer header): the same text, for scripts and monitoring. OpenClaw's `agent` CLI
    // sends a message to the model, not to a plugin's command, so this is how a shell reads the metrics
    // of a running gateway. 503 with the load error when the plugin did not load.
    if (typeof api.registerHttpRoute === 'function') {
      api.registerHttpRoute({
        path: METRICS_ROUTE,
        auth: 'gateway',
        match: 'exact',
        handler: (request, response) => {
          if (request.method !== 'GET' && request.method !== 'HEAD') {
            response.statusCode = 405;
            response.setHeader('Allow', 'GET, HEAD');
            response.end();
            return true;
          }
          response.statusCode = globalThis[ACTIVE].failure !== null ? 503 : 200;
          response.setHeader('Content-Type', 'text/plain; charset=utf-8');
          response.setHeader('Cache-Control', 'no-store');
          response.end(request.method === 'HEAD' ? undefined : `${activeText()}\n`);
          return true;
        },
      });
    }
  },
};
