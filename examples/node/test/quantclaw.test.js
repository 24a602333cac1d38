'use strict';
// The Node binding against the real library ($QUANTCLAW_PLUGIN, set by ctest).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Router, QuantClawError, ConfigError, Status, abiVersion } = require('../quantclaw');

const examples = path.resolve(__dirname, '..', '..');
const config = JSON.parse(fs.readFileSync(path.join(examples, 'configs', 'router.json'), 'utf8'));
const episode = fs.readFileSync(path.join(examples, 'episodes', 'research-agent.jsonl'), 'utf8')
  .split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line));

test('replays the example episode like the CLI', () => {
  const router = new Router(config);
  const tiers = [];
  for (const record of episode) {
    if (record.outcome) {
      router.reportOutcome(record.outcome);
      continue;
    }
    router.onStep(record);
    tiers.push(router.choosePrecision(record.session_id).tierName);
  }
  // The decisions `quantclaw route` prints for this config and episode (tests/cli).
  assert.deepEqual(tiers, ['w4a16', 'fp8', 'w4a16', 'bf16', 'bf16', 'fp8', 'fp8', 'bf16', 'bf16']);
  router.close();
});

test('abiVersion is the library qc_abi_version, ABI 1.1 or later', () => {
  const version = abiVersion();
  assert.equal(version >>> 16, 1);
  assert.ok((version & 0xffff) >= 1);
  assert.equal(abiVersion(process.env.QUANTCLAW_PLUGIN), version);
});

test('decision fields', () => {
  const router = new Router(config);
  router.onStep({ session_id: 's', hints: { step_kind: 'search' } });
  const decision = router.choosePrecision('s');
  assert.equal(decision.tierName, 'bf16');
  assert.equal(decision.tierIndex, 0);
  assert.equal(decision.forced, true);
  assert.equal(decision.score, null);
  assert.equal(decision.stepKind, 'search');
  assert.equal(decision.reason, 'forced: /policy/force/0 matched (step_kind search)');
  router.close();
});

test('protobuf bytes are accepted', () => {
  const router = new Router(config);
  // Step{session_id: "p", hints{step_kind: "search"}} in protobuf wire format.
  router.onStep(Buffer.from([0x0a, 0x01, 0x70, 0x2a, 0x08, 0x0a, 0x06, ...Buffer.from('search')]));
  assert.equal(router.choosePrecision('p').tierName, 'bf16');
  router.close();
});

test('an invalid config throws ConfigError with pointers', () => {
  assert.throws(() => new Router({ tiers: [{ name: 'a', format: 'bf16', model: 'm', base_url: 'ftp://x' }] }), (error) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.status, Status.INVALID_CONFIG);
    assert.deepEqual(error.problems, [{ pointer: '/tiers/0/base_url', reason: 'malformed URL: unsupported scheme "ftp" (expected http or https)' }]);
    return true;
  });
});

test('wrong types, null and undefined are TypeErrors', () => {
  for (const bad of [null, undefined, 42, ['tiers']]) assert.throws(() => new Router(bad), TypeError);
  const router = new Router(config);
  for (const bad of [null, undefined, 3, ['session_id']]) assert.throws(() => router.onStep(bad), TypeError);
  for (const bad of [null, undefined, 7]) assert.throws(() => router.choosePrecision(bad), TypeError);
  router.close();
});

test('the library message reaches the error', () => {
  const router = new Router(config);
  assert.throws(() => router.choosePrecision('nobody'), (error) => {
    assert.ok(error instanceof QuantClawError);
    assert.equal(error.status, Status.UNKNOWN_SESSION);
    assert.match(error.message, /unknown session "nobody"/);
    return true;
  });
  assert.throws(() => router.onStep({ session_id: 's', messages: [{ role: 7 }] }), (error) => {
    assert.equal(error.status, Status.PARSE);
    assert.match(error.message, /\/messages\/0\/role: expected a string/);
    return true;
  });
  router.close();
});

test('a closed router reports the library bad handle', () => {
  const router = new Router(config);
  router.close();
  assert.throws(() => router.onStep({ session_id: 's' }), (error) => {
    assert.equal(error.status, Status.BAD_HANDLE);
    assert.match(error.message, /already freed/);
    return true;
  });
  router.close();  // closing twice is harmless
});

test('reload and metrics', () => {
  const router = new Router(config);
  router.onStep({ session_id: 's' });
  router.choosePrecision('s');
  router.reload({ ...config, policy: { scorer: { kind: 'rules', default_score: 1.0, rules: [] } } });
  assert.equal(router.choosePrecision('s').tierName, 'bf16');
  assert.throws(() => router.reload({ tiers: [] }), ConfigError);
  const text = router.metrics();
  assert.match(text, /^quantclaw_decisions_total 2$/m);
  assert.match(text, /^quantclaw_config_reloads_total 1$/m);
  router.endSession('s');
  assert.throws(() => router.endSession('s'), (error) => error.status === Status.UNKNOWN_SESSION);
  router.close();
});
