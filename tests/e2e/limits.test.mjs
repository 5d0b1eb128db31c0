// Every limit of docs/operations/limits.md that no other file already hits:
// each is hit at its edge, and the answer is the exact status with an
// error.message naming what was too large and where. The limits the table
// credits to other files (connections, 20 MB bodies, one expression's
// result) are tested there.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { Server, describeResponse, rawRequest, useServer } from './lib/server.mjs';
import { startRun, waitRun } from './lib/world.mjs';

const T = { timeout: 300_000 };
const srv = useServer();

const MAX_BODY = 1024 * 1024;               // --max-body default
const JSON_MAX_DEPTH = 64;                  // SP_JSON_MAX_DEPTH
const TEXT_MAX = 10000;                     // API_TEXT_MAX
const MAX_STEPS = 1000;                     // WF_MAX_STEPS
const RUN_OUTPUTS_MAX = 16 * 1024 * 1024;   // RUN_OUTPUTS_MAX_BYTES

const step = (run, id) => run.steps.find((s) => s.id === id);

function expectError(r, status, code, message, what) {
  assert.equal(r.status, status, `${what}: ${describeResponse(r)}`);
  assert.equal(r.json?.error?.code, code, `${what}: ${describeResponse(r)}`);
  if (message instanceof RegExp) assert.match(r.json.error.message, message, what);
  else assert.equal(r.json.error.message, message, what);
}

test('request body: one byte over --max-body is 413 naming the request and the flag; exactly the limit is read', T, async () => {
  await srv.applyWorkflow('name: echo\nsteps:\n  - id: a\n    transform: ".input.s | length"\n');
  const headers = { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' };
  const over = await rawRequest(srv.url, { path: '/v1/runs', headers, body: Buffer.alloc(MAX_BODY + 1, 0x20) });
  assert.equal(over.status, 413, over.head);
  assert.equal(over.json?.error?.code, 'too_large', over.text.slice(0, 300));
  assert.equal(over.json.error.message,
    `POST /v1/runs: the request body (Content-Length ${MAX_BODY + 1}) is too large: the limit is ${MAX_BODY} bytes (--max-body)`);

  // A body of exactly the limit is read and parsed: a string input padded to it.
  const prefix = '{"workflow":"echo","input":{"s":"';
  const suffix = '"}}';
  const pad = 'y'.repeat(MAX_BODY - prefix.length - suffix.length);
  const exact = await srv.api('POST', '/v1/runs?wait=30', { body: prefix + pad + suffix, contentType: 'application/json' });
  assert.equal(exact.status, 201, describeResponse(exact));
  const run = await waitRun(srv, exact.json.id);
  assert.equal(run.output, pad.length);
});

test('JSON nesting: 65 levels are 400 naming the request body and the limit; 64 are taken', T, async () => {
  // The body object and the input object are two levels; the lists the rest.
  const nested = (levels) => '['.repeat(levels) + ']'.repeat(levels);
  const tooDeep = `{"workflow":"echo","input":{"s":${nested(JSON_MAX_DEPTH - 1)}}}`;
  const r = await srv.api('POST', '/v1/runs', { body: tooDeep, contentType: 'application/json' });
  expectError(r, 400, 'bad_input', `request body: nested deeper than ${JSON_MAX_DEPTH} levels`, '65 levels');

  const deepest = `{"workflow":"echo","input":{"s":${nested(JSON_MAX_DEPTH - 2)}}}`;
  const ok = await srv.api('POST', '/v1/runs', { body: deepest, contentType: 'application/json' });
  assert.equal(ok.status, 201, describeResponse(ok));
});

test('string length: a summary one character over API_TEXT_MAX is 400 naming the field; at the limit it is taken', T, async () => {
  await srv.createUser('lena');
  const body = (summary) => ({ title: 'limits', summary, proposal: { x: 1 }, to: ['user:lena'] });
  const r = await srv.api('POST', '/v1/approvals', { body: body('é'.repeat(TEXT_MAX + 1)) });
  expectError(r, 400, 'bad_input', `field 'summary' in request body: longer than ${TEXT_MAX} characters`, 'summary of 10001');
  // counted in characters, not bytes: 10000 two-byte characters fit
  const ok = await srv.api('POST', '/v1/approvals', { body: body('é'.repeat(TEXT_MAX)) });
  assert.equal(ok.status, 201, describeResponse(ok));
});

test('steps: a workflow of 1001 steps is 422 naming steps and the limit; 1000 are taken', T, async () => {
  // wait steps: no expression to compile, so only the count is at stake
  const flow = (n) => 'name: long\nsteps:\n' +
    Array.from({ length: n }, (_, i) => `  - id: s${i}\n    wait: {for: 1s}\n`).join('');
  const r = await srv.api('POST', '/v1/workflows', { body: flow(MAX_STEPS + 1), contentType: 'application/yaml' });
  expectError(r, 422, 'invalid', new RegExp(`steps: has ${MAX_STEPS + 1} steps; the limit is ${MAX_STEPS}`), '1001 steps');
  assert.ok(r.json.error.details.some((d) => d.path === 'steps' && d.message === `has ${MAX_STEPS + 1} steps; the limit is ${MAX_STEPS}`),
    JSON.stringify(r.json.error.details).slice(0, 500));
  const ok = await srv.api('POST', '/v1/workflows', { body: flow(MAX_STEPS), contentType: 'application/yaml' });
  assert.ok([200, 201].includes(ok.status), describeResponse(ok));
});

test('run outputs: the step whose output would take the run past 16 MiB fails naming itself and the sizes; on_error applies', T, async () => {
  // 17 steps of about 1 MB each: the 17th passes RUN_OUTPUTS_MAX_BYTES,
  // while the expression input (16 outputs) stays under its own 16 MiB.
  const N = 17;
  const steps = [];
  for (let i = 1; i <= N; i++) {
    steps.push(`  - id: big${i}\n    transform: '"x" * .input.n'\n` +
      (i === N ? '    on_error: fallback\n' : ''));
  }
  steps.push('  - id: done\n    transform: \'"not reached"\'\n    next: end\n');
  steps.push('  - id: fallback\n    transform: \'{fell_back: true, error: .steps.big17.status}\'\n');
  await srv.applyWorkflow('name: hoard\nsteps:\n' + steps.join(''));

  const n = 1_000_000;                       // each output: n + 2 bytes of JSON
  const started = await startRun(srv, 'hoard', { n }, { wait: 0 });
  const run = await waitRun(srv, started.id, { timeoutMs: 240_000 });
  assert.equal(run.status, 'completed', JSON.stringify({ ...run, steps: run.steps.map((s) => ({ id: s.id, status: s.status, error: s.error })) }));
  for (let i = 1; i < N; i++) assert.equal(step(run, `big${i}`).status, 'completed', `big${i}`);
  const failed = step(run, `big${N}`);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.output, null, 'the output over the limit is not kept');
  const kept = (N - 1) * (n + 2);
  assert.equal(failed.error.message,
    `step 'big${N}': its output is ${n + 2} bytes of JSON and the run keeps ${kept} bytes of step outputs already; a run keeps at most ${RUN_OUTPUTS_MAX} (16 MiB) in all`);
  assert.equal(failed.attempts, 1, 'not retried');
  assert.equal(step(run, 'done'), undefined);
  assert.deepEqual(run.output, { fell_back: true, error: 'failed' });
  assert.equal(run._output_bytes, undefined, 'the count is private');
  // the failure is audited like any step failure
  const rows = await srv.audit({ run_id: run.id });
  assert.ok(rows.some((a) => a.type === 'step.failed' && a.data?.step === `big${N}` && /a run keeps at most/.test(a.data?.error)),
    JSON.stringify(rows.map((a) => a.type)));
});

// ---- per-key request rate: its own server, with a small --rate-limit ----

const RATE = 3;
let limited;
after(async () => {
  if (!limited) return;
  try { await limited.stopClean(); } finally { await limited.dispose(); }
});

test('request rate: a key past --rate-limit gets 429 with Retry-After naming the key; other keys and later requests go on', T, async () => {
  limited = new Server({ args: ['--rate-limit', String(RATE)] });
  await limited.start();
  await limited.createUser('rita');
  const other = await limited.createKey('rita');
  // Let the admin key's bucket fill again after the set-up requests above.
  await new Promise((r) => setTimeout(r, 1100));

  // Far more than RATE at once: the burst is RATE, refilled at RATE a second.
  const burst = await Promise.all(Array.from({ length: 30 }, () => limited.api('GET', '/v1/workflows')));
  const statuses = burst.map((r) => r.status);
  assert.ok(statuses.every((s) => s === 200 || s === 429), statuses.join(','));
  const ok = statuses.filter((s) => s === 200).length;
  assert.ok(ok >= RATE && ok < 30, `${ok} of 30 went through: ${statuses.join(',')}`);
  const refused = burst.find((r) => r.status === 429);
  assert.equal(refused.json?.error?.code, 'rate_limited', describeResponse(refused));
  assert.equal(refused.headers.get('retry-after'), '1', JSON.stringify([...refused.headers]));
  assert.match(refused.json.error.message,
    new RegExp(`^GET /v1/workflows: API key key_\\w+ made more than ${RATE} requests in a second \\(the server's --rate-limit\\); try again in 1 s \\(Retry-After\\)$`));

  // Another key is counted apart: it is not refused for the admin's burst.
  const r2 = await limited.api('GET', '/v1/workflows', { token: other });
  assert.equal(r2.status, 200, describeResponse(r2));
  // After Retry-After the refused key is served again.
  await new Promise((r) => setTimeout(r, 1000 * Number(refused.headers.get('retry-after'))));
  const again = await limited.api('GET', '/v1/workflows');
  assert.equal(again.status, 200, describeResponse(again));
  // Unauthenticated endpoints are not counted.
  const health = await Promise.all(Array.from({ length: 10 }, () => limited.api('GET', '/healthz', { token: null })));
  assert.deepEqual(health.map((h) => h.status), Array(10).fill(200));
});
