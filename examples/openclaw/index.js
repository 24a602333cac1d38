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
//   decisionLog   a file that gets a JSON line per step ("decision": session, step, kind, tier, model,
//                 URL, reason, the per-tier counts so far) and per finished call ("outcome": tokens, status)
//   debug         true: the same lines on stderr
import fs from 'node:fs';
// The Node binding (examples/node), a dependency bundled inside this package's tarball
// (bundleDependencies, with koffi): OpenClaw installs a plugin archive without fetching dependencies, so
// the binding travels in the plugin's own node_modules and is imported as a package, never by a path
// that leaves the plugin's folder.
import quantclaw from 'quantclaw';

const PLUGIN_ID = 'quantclaw';
const PROVIDER_ID = 'quantclaw';
const PLUGIN_KEYS = ['libraryPath', 'decisionLog', 'debug'];
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

// Identifies a message well enough to notice that OpenClaw rewrote the history (compaction) under us.
function messageKey(message) {
  return `${message?.role}:${message?.timestamp ?? ''}:${message?.toolCallId ?? ''}`;
}

class QuantClawRouting {
  constructor(pluginConfig, logger) {
    this.settings = splitConfig(pluginConfig);
    this.logger = logger;
    this.router = null;
    this.tiers = this.settings.routerConfig.tiers;
    this.sessions = new Map();  // session id -> { fed, lastKey }
    this.tierCounts = {};  // OpenClaw's own usage reports name quantclaw/auto, never the tier
  }

  // Created on the first call, so that loading the plugin for other commands costs nothing and a bad
  // config fails the call with the library's own message.
  ensureRouter() {
    if (this.router !== null) return this.router;
    const library = this.settings.libraryPath ? { library: this.settings.libraryPath } : {};
    this.router = new quantclaw.Router(this.settings.routerConfig, library);
    return this.router;
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
    if (session && (messages.length < session.fed
                    || (session.fed > 0 && messageKey(messages[session.fed - 1]) !== session.lastKey))) {
      // The history was rewritten (compaction, a replay repair): start the session over.
      try { router.endSession(sessionId); } catch { /* already expired */ }
      session = undefined;
    }
    if (!session) session = { fed: 0, lastKey: '' };
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
    router.onStep({ session_id: sessionId, messages: fresh, request });
    session.fed = messages.length;
    session.lastKey = messages.length > 0 ? messageKey(messages[messages.length - 1]) : '';
    // Most recently used last; the oldest go once there are more than the library keeps anyway.
    this.sessions.delete(sessionId);
    this.sessions.set(sessionId, session);
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value);
    return { decision: router.choosePrecision(sessionId), fed: fresh.map((message) => message.role) };
  }

  // The log is for the operator: a log that cannot be written is reported once, and the agent's call
  // goes on.
  log(entry) {
    const { decisionLog, debug } = this.settings;
    if (!decisionLog && !debug) return;
    const line = JSON.stringify({ time: new Date().toISOString(), ...entry });
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

  record(sessionId, decision, tier, fed) {
    this.tierCounts[tier.name] = (this.tierCounts[tier.name] ?? 0) + 1;
    this.log({
      event: 'decision', session: sessionId, step: decision.stepIndex, kind: decision.stepKind, fed, tier: tier.name,
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
      status: message.stopReason === 'error' ? 'OUTCOME_STATUS_ERROR'
        : message.stopReason === 'aborted' ? 'OUTCOME_STATUS_CANCELLED' : 'OUTCOME_STATUS_OK',
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
        input_tokens: outcome.input_tokens, output_tokens: outcome.output_tokens, cached_tokens: outcome.cached_tokens,
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
      const { decision, fed } = this.decide(sessionId, context, options);
      const tier = this.tiers[decision.tierIndex];
      this.record(sessionId, decision, tier, fed);
      const routedModel = { ...model, id: tier.model || model.id, baseUrl: tier.base_url || model.baseUrl };
      // The tier's key, read from its api_key_env at call time. OpenClaw's embedded runner sets the
      // provider's resolved key on the options below this wrapper, so the key goes in as the model's
      // Authorization header, which the OpenAI-compatible transports send as given. Without
      // api_key_env the call keeps models.providers.quantclaw's key.
      const key = tier.api_key_env ? process.env[tier.api_key_env] : undefined;
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

export default {
  id: PLUGIN_ID,
  name: 'quantclaw',
  description: 'Per-step precision routing: each LLM call of an agent goes to the tier libquantclaw chooses',
  register(api) {
    let routing = null;
    const routingFor = () => {
      routing ??= new QuantClawRouting(api.pluginConfig, api.logger);
      return routing;
    };
    api.registerProvider({
      id: PROVIDER_ID,
      label: 'quantclaw',
      auth: [],
      wrapStreamFn: (ctx) => {
        if (!ctx.streamFn) return undefined;
        return routingFor().wrap(ctx.streamFn);
      },
    });
  },
};
