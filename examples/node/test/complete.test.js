'use strict';
// Router.complete against the loopback OpenAI-compatible test server (tests/backend/openai_server.py).
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const readline = require('node:readline');
const { Router, QuantClawError, Status } = require('../quantclaw');

const serverScript = path.resolve(__dirname, '..', '..', '..', 'tests', 'backend', 'openai_server.py');
const body = { model: 'anything', messages: [{ role: 'user', content: 'hello' }] };

async function startServer() {
  const child = spawn(process.env.QC_PYTHON || 'python3', [serverScript], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const [line] = await Promise.race([
    new Promise((resolve) => lines.once('line', (first) => resolve([first]))),
    new Promise((_, reject) => setTimeout(() => reject(new Error('the test server did not start')), 10000)),
  ]);
  return { child, port: Number(line.split(' ')[1]) };
}

test('complete, streaming, cancellation and tier errors', async () => {
  const { child, port } = await startServer();
  try {
    const base = `http://127.0.0.1:${port}/v1`;
    const router = new Router({
      tiers: ['echo', 'tool', 'http500'].map((name) => ({ name, format: 'bf16', model: name, base_url: base })),
      reference_tier: 'echo',
      backend: { retries: 0, failover: false },
    });
    const answer = router.complete('s', body);
    assert.equal(answer.choices[0].message.content, 'echo: hello');
    assert.equal(answer.quantclaw.tier, 'echo');

    const chunks = [];
    const streamed = router.complete('s', body, { onChunk: (chunk) => { chunks.push(chunk); }, hints: { force_tier: 'tool' } });
    assert.equal(chunks.length, 5);
    assert.equal(streamed.choices[0].message.tool_calls[0].function.arguments, '{"city": "Paris"}');

    assert.throws(() => router.complete('s', body, { onChunk: () => false }),
      (error) => error instanceof QuantClawError && error.status === Status.CANCELLED);
    assert.throws(() => router.complete('s', body, { onChunk: () => { throw new Error('host gave up'); } }), /host gave up/);
    assert.throws(() => router.complete('s', body, { hints: { force_tier: 'http500' } }),
      (error) => error.status === Status.UPSTREAM && /answered HTTP 500/.test(error.message));
    assert.throws(() => router.complete('s', null), TypeError);
    router.close();
  } finally {
    child.stdin.end();
    child.kill();
  }
});
