'use strict';
// quantclaw from Node.js: the C ABI of libquantclaw through koffi (no compiled addon of ours).
//
//   const { Router } = require('./quantclaw');
//   const router = new Router(config);
//   router.onStep({ session_id: 's1', messages: [{ role: 'user', content: 'hi' }] });
//   const decision = router.choosePrecision('s1');   // { tierName, score, reason, forced, ... }
//   router.close();
//
// The library is found at $QUANTCLAW_PLUGIN, else ./plugins/libquantclaw.so.1 (the plugins-directory
// convention every example host follows). The OpenClaw provider plugin shares this module.

const fs = require('node:fs');
const path = require('node:path');
const koffi = require('koffi');

const QC_OK = 0;
const Status = Object.freeze({
  OK: 0, INVALID_ARGUMENT: 1, PARSE: 2, INVALID_CONFIG: 3, UNKNOWN_SESSION: 4, TOO_LARGE: 5,
  BAD_HANDLE: 6, VERSION: 7, OUT_OF_ORDER: 8, INTERNAL: 9,
  UNAVAILABLE: 10, TIMEOUT: 11, CANCELLED: 12, UPSTREAM: 13,  // qc_complete, ABI 1.1
});
const FORMAT_PROTOBUF = 1;
const FORMAT_JSON = 2;
const Flags = Object.freeze({ FORCED: 1, ESCALATED: 2, BUDGET_HELD: 4, DEFAULTED: 8, PHASE_SPLIT: 16, CACHE_HELD: 32,
  // The step is shadow-sampled: put requestJson and actionText (or responseJson) in its outcome.
  SHADOW_SAMPLED: 64 });
const ABI_MAJOR = 1;
const PLUGIN_ENVIRONMENT_VARIABLE = 'QUANTCLAW_PLUGIN';
const PLUGINS_DIRECTORY_PATH = path.join('plugins', 'libquantclaw.so.1');

// A call the library refused: `status` is its QC_ERR_* code, the message is the library's.
class QuantClawError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'QuantClawError';
    this.status = status;
  }
}

// The config has problems; `problems` lists them as { pointer, reason }.
class ConfigError extends QuantClawError {
  constructor(status, message) {
    super(status, message);
    this.name = 'ConfigError';
    this.problems = message.split('\n').map((line) => {
      const at = line.indexOf(': ');
      return at < 0 ? { pointer: '', reason: line } : { pointer: line.slice(0, at), reason: line.slice(at + 2) };
    });
  }
}

function findLibrary() {
  const fromEnvironment = process.env[PLUGIN_ENVIRONMENT_VARIABLE];
  if (fromEnvironment) return fromEnvironment;
  if (fs.existsSync(PLUGINS_DIRECTORY_PATH)) return path.resolve(PLUGINS_DIRECTORY_PATH);
  throw new Error(`libquantclaw not found: set ${PLUGIN_ENVIRONMENT_VARIABLE} or put it at ${PLUGINS_DIRECTORY_PATH}`);
}

const bindings = new Map();  // one koffi binding per library path

function bind(libraryPath) {
  if (bindings.has(libraryPath)) return bindings.get(libraryPath);
  const lib = koffi.load(libraryPath);
  const abiVersion = lib.func('uint32_t qc_abi_version(void)');
  const version = abiVersion();
  if (version >>> 16 !== ABI_MAJOR) {
    throw new QuantClawError(Status.VERSION,
      `${libraryPath} implements ABI ${version >>> 16}.${version & 0xffff}, this module speaks ABI ${ABI_MAJOR}`);
  }
  // Type names are scoped per binding, so two libraries can be loaded side by side.
  const id = bindings.size;
  const router = koffi.opaque(`qc_router_${id}`);
  const bytes = koffi.struct(`qc_bytes_${id}`, { data: 'const uint8_t *', size: 'size_t' });
  const buffer = koffi.struct(`qc_buffer_${id}`, {
    struct_size: 'uint32_t', reserved0: 'uint32_t', data: 'void *', size: 'size_t',
  });
  const decision = koffi.struct(`qc_decision_${id}`, {
    struct_size: 'uint32_t', tier_index: 'uint32_t', flags: 'uint32_t', prefill_tier_index: 'uint32_t',
    step_index: 'uint64_t', score: 'double', threshold: 'double',
    tier_name: koffi.array('char', 64, 'String'), step_kind: koffi.array('char', 32, 'String'),
    reason: koffi.array('char', 192, 'String'),
  });
  const routerPointer = koffi.pointer(router);
  const binding = {
    abiVersion: version,
    routerNew: lib.func('qc_router_new', 'int32_t', ['const char *', 'size_t', koffi.out(koffi.pointer(routerPointer))]),
    routerFree: lib.func('qc_router_free', 'int32_t', [routerPointer]),
    routerReload: lib.func('qc_router_reload', 'int32_t', [routerPointer, 'const char *', 'size_t']),
    onStep: lib.func('qc_on_step', 'int32_t', [routerPointer, koffi.pointer(bytes), 'uint32_t']),
    choosePrecision: lib.func('qc_choose_precision', 'int32_t',
      [routerPointer, koffi.pointer(bytes), 'uint32_t', koffi.inout(koffi.pointer(decision))]),
    reportOutcome: lib.func('qc_report_outcome', 'int32_t', [routerPointer, koffi.pointer(bytes), 'uint32_t']),
    sessionEnd: lib.func('qc_session_end', 'int32_t', [routerPointer, 'const char *', 'size_t']),
    metrics: lib.func('qc_metrics', 'int32_t', [routerPointer, koffi.inout(koffi.pointer(buffer))]),
    bufferFree: lib.func('qc_buffer_free', 'void', [koffi.inout(koffi.pointer(buffer))]),
    lastError: lib.func('qc_last_error', 'const char *', []),
    decisionSize: koffi.sizeof(decision),
    // ABI 1.1: qc_complete with a chunk callback.
    chunkFn: null,
    complete: null,
    bufferSize: koffi.sizeof(buffer),
  };
  if ((version & 0xffff) >= 1) {
    binding.chunkFn = koffi.proto(`int32_t qc_chunk_fn_${id}(void *user_data, const uint8_t *chunk, size_t size)`);
    binding.complete = lib.func('qc_complete', 'int32_t', [routerPointer, koffi.pointer(bytes), 'uint32_t',
      koffi.pointer(binding.chunkFn), 'void *', koffi.inout(koffi.pointer(buffer))]);
  }
  bindings.set(libraryPath, binding);
  return binding;
}

// qc_abi_version() of the library at libraryPath (default: findLibrary()): major << 16 | minor. Throws
// QuantClawError (Status.VERSION) for a major this module does not speak.
function abiVersion(libraryPath = findLibrary()) {
  return bind(libraryPath).abiVersion;
}

// A plain object or JSON text goes as JSON; a Buffer or Uint8Array goes as protobuf binary.
function encode(message, what) {
  if (message instanceof Uint8Array) return { data: message, format: FORMAT_PROTOBUF };
  if (typeof message === 'string') return { data: Buffer.from(message, 'utf8'), format: FORMAT_JSON };
  if (message !== null && typeof message === 'object' && !Array.isArray(message)) {
    return { data: Buffer.from(JSON.stringify(message), 'utf8'), format: FORMAT_JSON };
  }
  throw new TypeError(`${what} must be an object, JSON text or protobuf bytes, not ${message === null ? 'null' : typeof message}`);
}

function configText(config) {
  if (typeof config === 'string') return config;
  if (config !== null && typeof config === 'object' && !Array.isArray(config)) return JSON.stringify(config);
  throw new TypeError(`config must be an object or JSON text, not ${config === null ? 'null' : typeof config}`);
}

function requireSessionId(sessionId) {
  if (typeof sessionId !== 'string') {
    throw new TypeError(`sessionId must be a string, not ${sessionId === null ? 'null' : typeof sessionId}`);
  }
}

class Router {
  constructor(config, { library } = {}) {
    this.binding = bind(library || findLibrary());
    const text = configText(config);
    const out = [null];
    this.check(this.binding.routerNew(text, Buffer.byteLength(text), out));
    this.handle = out[0];
    this.closed = false;
  }

  check(status) {
    if (status === QC_OK) return;
    const message = this.binding.lastError() || '';
    if (status === Status.INVALID_CONFIG) throw new ConfigError(status, message);
    throw new QuantClawError(status, message);
  }

  // A closed router's handle still goes to the library, which keeps freed handles dead rather than
  // reusing them: its QC_ERR_BAD_HANDLE and message reach the caller.
  callWithMessage(fn, message, what, ...extra) {
    const { data, format } = encode(message, what);
    return this.check(fn(this.handle, { data, size: data.length }, format, ...extra));
  }

  // Feeds a step: an object in quantclaw.v1.Step's JSON form (only the new messages), or its bytes.
  onStep(step) {
    this.callWithMessage(this.binding.onStep, step, 'step');
  }

  choosePrecision(sessionId) {
    requireSessionId(sessionId);
    const decision = { struct_size: this.binding.decisionSize };
    this.callWithMessage(this.binding.choosePrecision, { session_id: sessionId }, 'request', decision);
    return {
      tierIndex: decision.tier_index,
      tierName: decision.tier_name,
      prefillTierIndex: decision.prefill_tier_index,
      stepIndex: Number(decision.step_index),
      stepKind: decision.step_kind,
      score: decision.score < 0 ? null : decision.score,
      threshold: decision.threshold < 0 ? null : decision.threshold,
      reason: decision.reason,
      flags: decision.flags,
      forced: (decision.flags & Flags.FORCED) !== 0,
      escalated: (decision.flags & Flags.ESCALATED) !== 0,
      budgetHeld: (decision.flags & Flags.BUDGET_HELD) !== 0,
      shadowSampled: (decision.flags & Flags.SHADOW_SAMPLED) !== 0,
    };
  }

  // Decides the tier for a full OpenAI request and makes the call (ABI 1.1). With onChunk, the call
  // streams: each chat.completion.chunk arrives parsed; returning false cancels; a throw cancels and is
  // rethrown here. Returns the response (aggregated when streamed) with a "quantclaw" object added.
  complete(sessionId, body, { onChunk = null, endpoint = 'chat', hints = null } = {}) {
    requireSessionId(sessionId);
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new TypeError(`body must be the OpenAI request object, not ${body === null ? 'null' : typeof body}`);
    }
    if (this.binding.complete === null) throw new QuantClawError(Status.VERSION, 'this libquantclaw predates qc_complete (ABI 1.1)');
    const request = { session_id: sessionId, body, endpoint };
    if (hints) request.hints = hints;
    const { data, format } = encode(request, 'request');
    let thrown = null;
    let callback = null;
    if (onChunk !== null) {
      callback = koffi.register((userData, chunk, size) => {
        try {
          const text = koffi.decode(chunk, koffi.array('char', Number(size), 'String'));
          const keepGoing = onChunk(JSON.parse(text));
          return keepGoing === undefined || keepGoing ? 0 : 1;
        } catch (error) {  // nothing may unwind through C
          thrown = error;
          return 1;
        }
      }, koffi.pointer(this.binding.chunkFn));
    }
    const out = { struct_size: this.binding.bufferSize, reserved0: 0, data: null, size: 0 };
    let status;
    try {
      status = this.binding.complete(this.handle, { data, size: data.length }, format, callback, null, out);
    } finally {
      if (callback !== null) koffi.unregister(callback);
    }
    if (thrown !== null) throw thrown;
    this.check(status);
    try {
      return JSON.parse(koffi.decode(out.data, koffi.array('char', Number(out.size), 'String')));
    } finally {
      this.binding.bufferFree(out);
    }
  }

  reportOutcome(outcome) {
    this.callWithMessage(this.binding.reportOutcome, outcome, 'outcome');
  }

  reload(config) {
    const text = configText(config);
    this.check(this.binding.routerReload(this.handle, text, Buffer.byteLength(text)));
  }

  endSession(sessionId) {
    requireSessionId(sessionId);
    this.check(this.binding.sessionEnd(this.handle, sessionId, Buffer.byteLength(sessionId)));
  }

  metrics() {
    const buffer = { struct_size: this.binding.bufferSize, reserved0: 0, data: null, size: 0 };
    this.check(this.binding.metrics(this.handle, buffer));
    try {
      return koffi.decode(buffer.data, koffi.array('char', Number(buffer.size), 'String'));
    } finally {
      this.binding.bufferFree(buffer);
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.check(this.binding.routerFree(this.handle));
  }
}

module.exports = {
  Router, QuantClawError, ConfigError, Status, Flags, FORMAT_JSON, FORMAT_PROTOBUF, findLibrary, abiVersion,
};
