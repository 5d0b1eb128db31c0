// The `http` step against a Stripe-like sink (lib/doubles.mjs): the request
// it sends (templates, auth from a secret, Idempotency-Key), its output,
// retries of transient failures with back-off and Retry-After, permanent
// failures, timeouts, the secret kept out of everything, kill -9 with calls
// in flight (each refund applied once), and a thousand slow calls at once
// on a fixed number of threads.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, before, test } from 'node:test';

import { startHub, startSink } from './lib/doubles.mjs';
import { Server, describeResponse, pool, sleep, useServer } from './lib/server.mjs';
import { FINAL, waitRun } from './lib/world.mjs';

const T = { timeout: 180_000 };
// A URL's host comes from $env only: every sink is one path below the hub
// ($env.DOUBLES), and a port nothing listens on is $env.DEAD_API.
const hub = await startHub();
const DEAD_API = `http://127.0.0.1:${await deadPort()}`;
const ENV = { env: { ...hub.env, DEAD_API }, args: ['--env-allow', 'DOUBLES,DEAD_API'] };
// Debug logging, so that "not in the log" covers everything the server says.
const srv = useServer({ args: ['--test-clock', '--log-level', 'debug', ...ENV.args], env: ENV.env });
const SECRET = `sk_test_${crypto.randomBytes(18).toString('base64url')}`;
const keys = {};

const sinks = [];
async function sink(opts) {
  const s = await startSink({ ...opts, hub });
  sinks.push(s);
  return s;
}
after(async () => {
  await Promise.all(sinks.map((s) => s.close()));
  await hub.close();
});

// A port from the kernel, closed again: a connection to it is refused.
async function deadPort() {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const p = probe.address().port;
      probe.close(() => resolve(p));
    });
  });
}

// ---- workflows -------------------------------------------------------------

const REFUND = `
name: http-refund
steps:
  - id: refund
    http:
      method: POST
      url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"
      headers: {X-Trace: "{{ .run.id }}"}
      query: {expand: "charge"}
      json: {charge: "{{ .input.charge }}", amount: "{{ .input.amount }}"}
      auth: {bearer: "{{ $secrets.stripe_key }}"}
      timeout: 5s
`;

const GATED = `
name: http-gated
steps:
  - id: refund
    approval:
      title: "Refund {{ .input.amount }} on {{ .input.charge }}"
      to: [user:approver]
      require_comment: never
      editable: [/form/amount]
    http:
      method: POST
      url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"
      form: {charge: "{{ .input.charge }}", amount: "{{ .input.amount }}"}
      auth: {bearer: "{{ $secrets.stripe_key }}"}
`;

const FLAKY = `
name: http-flaky
steps:
  - id: refund
    http:
      method: POST
      url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"
      json: {charge: "{{ .input.charge }}", amount: "{{ .input.amount }}"}
      timeout: 5s
    retry: {max_attempts: 4, backoff: 1s, max_backoff: 5s, jitter: false}
    on_error: rescue
    next: end
  - id: rescue
    transform: '{rescued: true}'
`;

const STRICT = `
name: http-strict
steps:
  - id: refund
    http:
      method: POST
      url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"
      json: {charge: "{{ .input.charge }}", amount: "{{ .input.amount }}"}
      accept: [201]
    retry: {max_attempts: 3, backoff: 1s, jitter: false}
  - id: after
    transform: '{after: true}'
`;

const SLOW = `
name: http-slow
steps:
  - id: refund
    http:
      method: POST
      url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"
      json: {charge: "{{ .input.charge }}", amount: "{{ .input.amount }}"}
      timeout: 1s
    retry: {max_attempts: 3, backoff: 1s, jitter: false}
`;

// FLAKY against a port nothing listens on.
const REFUSED = FLAKY.replace('name: http-flaky', 'name: http-refused')
  .replace('{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds', '{{ $env.DEAD_API }}/v1/refunds');

// A form whose value may not be a scalar.
const FORMY = `
name: http-formy
steps:
  - id: refund
    http:
      method: POST
      url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"
      form: {charge: "{{ .input.charge }}", meta: "{{ .input.meta }}"}
`;

before(async () => {
  const put = await srv.api('PUT', '/v1/secrets/stripe_key', { body: { value: SECRET } });
  assert.equal(put.status, 201, `PUT /v1/secrets/stripe_key (new): ${describeResponse(put)}`);
  for (const wf of [REFUND, GATED, FLAKY, REFUSED, STRICT, SLOW, FORMY]) await srv.applyWorkflow(wf);
  keys.approver = await srv.userWithKey('approver');
}, T);

// ---- helpers ---------------------------------------------------------------

async function advance(by) {
  const r = await srv.api('POST', '/v1/admin/clock', { body: { advance: by } });
  assert.equal(r.status, 200, `advance ${by}: ${describeResponse(r)}`);
  return r.json;
}

async function getRun(id, s = srv) {
  const r = await s.api('GET', `/v1/runs/${id}`);
  assert.equal(r.status, 200, describeResponse(r));
  return r.json;
}

// Starts a run and returns it once it is no longer `running`.
async function settle(workflow, input, { token, s = srv } = {}) {
  const r = await s.api('POST', '/v1/runs?wait=30', { token, body: { workflow, input } });
  assert.equal(r.status, 201, `POST /v1/runs ${workflow}: ${describeResponse(r)}`);
  if (r.json.status !== 'running') return r.json;
  return waitRun(s, r.json.id, { token, pred: (x) => x.status !== 'running' });
}

const stepOf = (run, id = 'refund') => run.steps.filter((s) => s.id === id).at(-1);

async function httpAttempts(runId, s = srv) {
  return (await s.audit({ run_id: runId })).filter((row) => row.type === 'http.attempt');
}

// The run waits for a retry of `refund`: move the clock to its time and
// return the run once the next attempt has been made.
async function fireRetry(run) {
  assert.equal(run.status, 'waiting', `waiting for a retry: ${JSON.stringify(run)}`);
  assert.equal(run.waiting?.type, 'retry', JSON.stringify(run.waiting));
  const before = stepOf(run).attempts;
  const now = Date.parse((await advance('1ms')).now);
  const ms = Math.max(1, Date.parse(run.waiting.until) - now + 20);
  await advance(`${ms}ms`);
  return waitRun(srv, run.id, { pred: (x) => stepOf(x).attempts > before && x.status !== 'running' });
}

function assertNoSecret(text, where) {
  assert.ok(!text.includes(SECRET), `${where} contains the secret value`);
}

async function assertSecretNowhere(runId) {
  const run = await srv.api('GET', `/v1/runs/${runId}`);
  assertNoSecret(run.text, `GET /v1/runs/${runId}`);
  const list = await srv.api('GET', '/v1/runs?limit=1000');
  assertNoSecret(list.text, 'GET /v1/runs');
  for (const format of ['jsonl', 'csv']) {
    const a = await srv.api('GET', `/v1/audit?format=${format}`);
    assert.equal(a.status, 200, describeResponse(a));
    assertNoSecret(a.text, `the audit export (${format})`);
  }
  assertNoSecret(srv.tail(1e9), "the server's stderr");
}

// ---- (a) the request ------------------------------------------------------

test('a POST with a JSON body reaches the sink once, with the Idempotency-Key, the bearer from the secret and the templates; the refund is the step output', T, async () => {
  const s = await sink({ apiKey: SECRET });
  const run = await settle('http-refund', { sink: s.id, charge: 'ch_a1', amount: 612 });
  assert.equal(run.status, 'completed', JSON.stringify(run));

  assert.equal(s.requests.length, 1, `one request: ${JSON.stringify(s.requests.map((r) => r.outcome))}`);
  const [req] = s.requests;
  assert.equal(req.method, 'POST');
  assert.equal(req.path, '/v1/refunds');
  assert.deepEqual(req.query, { expand: 'charge' });
  assert.equal(req.headers['idempotency-key'], `${run.id}/refund/1`);
  assert.equal(req.headers.authorization, `Bearer ${SECRET}`);
  assert.equal(req.headers['x-trace'], run.id);
  assert.match(req.headers['content-type'], /^application\/json/);
  assert.deepEqual(req.body, { charge: 'ch_a1', amount: 612 }, 'a whole-string template keeps the number a number');
  assert.equal(req.outcome, 'applied');
  assert.deepEqual([...s.applied()], [[`${run.id}/refund/1`, 1]]);

  const step = stepOf(run);
  assert.equal(step.status, 'completed');
  assert.equal(step.attempts, 1);
  assert.equal(step.output.status, 200);
  assert.deepEqual(step.output.body, s.refunds[0], 'the body is parsed JSON: the sink\'s refund');
  assert.equal(step.output.body.id, 're_1');
  assert.match(step.output.headers['content-type'], /application\/json/);
  assert.equal(step.output.headers['request-id'], 'req_1', 'response headers by lower-case name');
  assert.deepEqual(run.output, step.output, "the run's output is the last step's");

  const attempts = await httpAttempts(run.id);
  assert.equal(attempts.length, 1);
  assert.equal(attempts[0].data.step, 'refund');
  assert.equal(attempts[0].data.visit, 1);
  assert.equal(attempts[0].data.attempt, 1);
  assert.equal(attempts[0].data.status, 200);

  await assertSecretNowhere(run.id);
});

test('a gated http step: the approver sees the rendered request with the secret as ***; the approved, edited request goes out with the real secret', T, async () => {
  const s = await sink({ apiKey: SECRET });
  const run = await settle('http-gated', { sink: s.id, charge: 'ch_g1', amount: 250 });
  assert.equal(run.status, 'waiting', JSON.stringify(run));
  assert.equal(run.waiting.type, 'approval');
  assert.equal(s.requests.length, 0, 'nothing is sent before the decision');

  const g = await srv.api('GET', `/v1/approvals/${run.waiting.approval_id}`, { token: keys.approver });
  assert.equal(g.status, 200, describeResponse(g));
  assertNoSecret(g.text, 'the gate');
  assert.ok(g.text.includes('***'), `the proposal shows the redacted secret: ${JSON.stringify(g.json.proposal)}`);
  assert.ok(JSON.stringify(g.json.proposal).includes(`${s.url}/v1/refunds`), `the proposal is the rendered request: ${JSON.stringify(g.json.proposal)}`);
  assert.ok(JSON.stringify(g.json.proposal).includes('ch_g1'));
  assert.equal(String(g.json.proposal.form?.amount), '250', `the form is in the proposal: ${JSON.stringify(g.json.proposal)}`);
  const inbox = await srv.api('GET', '/v1/approvals?status=pending', { token: keys.approver });
  assertNoSecret(inbox.text, 'the inbox');

  const d = await srv.api('POST', `/v1/approvals/${run.waiting.approval_id}/decisions`,
    { token: keys.approver, body: { decision: 'approve', edits: { '/form/amount': 200 } } });
  assert.equal(d.status, 200, describeResponse(d));
  assertNoSecret(d.text, 'the decision answer');
  const done = await waitRun(srv, run.id);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.equal(s.requests.length, 1);
  const [req] = s.requests;
  assert.equal(req.headers.authorization, `Bearer ${SECRET}`, 'the real secret goes to the API');
  assert.match(req.headers['content-type'], /^application\/x-www-form-urlencoded/);
  assert.deepEqual(req.body, { charge: 'ch_g1', amount: '200' }, 'the edited amount');
  assert.equal(req.headers['idempotency-key'], `${run.id}/refund/1`);
  assert.equal(stepOf(done).output.body.amount, 200);

  const after = await srv.api('GET', `/v1/approvals/${run.waiting.approval_id}`);
  assertNoSecret(after.text, 'the resolved gate');
  await assertSecretNowhere(run.id);
});

test('while its call is in flight the run and the step are running; the answer completes them', T, async () => {
  const s = await sink({ delayMs: 1500 });
  const r = await srv.api('POST', '/v1/runs', { body: { workflow: 'http-flaky', input: { sink: s.id, charge: 'ch_f1', amount: 2 } } });
  assert.equal(r.status, 201, describeResponse(r));
  while (s.inflight === 0) await sleep(10);
  const mid = await getRun(r.json.id);
  assert.equal(mid.status, 'running', JSON.stringify(mid));
  assert.equal(mid.waiting, null);
  assert.equal(stepOf(mid).status, 'running');
  assert.equal(stepOf(mid).attempts, 1);
  const done = await waitRun(srv, r.json.id);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.equal(stepOf(done).status, 'completed');
  assert.equal(s.refunds.length, 1);
});

// ---- (b) transient and permanent failures ---------------------------------

test('transient failures (503, 429 with Retry-After, a reset connection) are retried with back-off; one refund is applied', T, async () => {
  const s = await sink({ script: [{ status: 503 }, { status: 429, retryAfter: 3 }, 'reset'] });
  let run = await settle('http-flaky', { sink: s.id, charge: 'ch_b1', amount: 40 });
  assert.equal(run.status, 'waiting', JSON.stringify(run));
  assert.equal(run.waiting.type, 'retry');
  assert.equal(run.waiting.step, 'refund');
  assert.equal(stepOf(run).status, 'waiting');
  assert.equal(stepOf(run).attempts, 1);
  assert.match(JSON.stringify(stepOf(run).error), /503/, 'the last error names the status');
  const until1 = Date.parse(run.waiting.until);

  run = await fireRetry(run);                                   // attempt 2: 429, Retry-After: 3
  assert.equal(stepOf(run).attempts, 2);
  assert.equal(run.waiting?.type, 'retry', JSON.stringify(run));
  const until2 = Date.parse(run.waiting.until);
  assert.ok(until2 - until1 >= 2950,
    `Retry-After: 3 is the least wait (the back-off alone would be 2s): waits ${until2 - until1} ms`);

  run = await fireRetry(run);                                   // attempt 3: reset
  assert.equal(stepOf(run).attempts, 3);
  assert.equal(run.waiting?.type, 'retry', JSON.stringify(run));
  const until3 = Date.parse(run.waiting.until);
  assert.ok(until3 - until2 >= 3950, `the back-off doubles to 4s: waits ${until3 - until2} ms`);

  run = await fireRetry(run);                                   // attempt 4: the refund
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.equal(stepOf(run).attempts, 4);
  assert.equal(stepOf(run).output.status, 200);
  assert.ok(!run.steps.some((x) => x.id === 'rescue'), 'on_error was not taken');

  const rows = await httpAttempts(run.id);
  assert.equal(rows.length, 4, JSON.stringify(rows.map((r) => r.data)));
  assert.deepEqual(rows.map((r) => r.data.attempt), [1, 2, 3, 4]);
  assert.ok(rows.every((r) => r.data.step === 'refund' && r.data.visit === 1));
  assert.deepEqual(rows.map((r) => r.data.status ?? null), [503, 429, null, 200]);
  assert.equal(typeof rows[2].data.error, 'string', `the reset is an error: ${JSON.stringify(rows[2].data)}`);

  const key = `${run.id}/refund/1`;
  assert.equal(s.requests.length, 4);
  assert.ok(s.requests.every((r) => r.idempotencyKey === key), 'every attempt carries the same key');
  assert.deepEqual([...s.applied()], [[key, 1]]);
});

test('a 422 is not retried: the step fails after one attempt and on_error is taken', T, async () => {
  const s = await sink({ script: [{ status: 422, body: { error: { type: 'invalid_request_error', message: 'charge already refunded' } } }] });
  const run = await settle('http-flaky', { sink: s.id, charge: 'ch_b2', amount: 40 });
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.deepEqual(run.output, { rescued: true });
  const step = stepOf(run);
  assert.equal(step.status, 'failed');
  assert.equal(step.attempts, 1);
  assert.match(JSON.stringify(step.error), /422/);
  assert.equal(s.requests.length, 1, 'one request, no retry');
  const rows = await httpAttempts(run.id);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].data.status, 422);
  assert.equal(s.refunds.length, 0);
});

test('an answer over 1 MiB (OUTBOUND_BODY_MAX) is kept to its first 960 KiB and marked truncated with the bytes received; exactly 1 MiB is whole', T, async () => {
  const MIB = 1024 * 1024, KEEP = MIB - 64 * 1024;
  const s = await sink({ script: [
    { status: 200, body: 'a'.repeat(MIB) },
    { status: 200, body: 'a'.repeat(MIB) + 'b' },
    { status: 200, body: JSON.stringify({ pad: 'c'.repeat(MIB) }), headers: { 'content-type': 'application/json' } },
    { status: 422, body: 'd'.repeat(MIB + 5) },
  ] });
  const whole = await settle('http-refund', { sink: s.id, charge: 'ch_big1', amount: 1 });
  assert.equal(whole.status, 'completed', JSON.stringify(whole).slice(0, 500));
  const w = stepOf(whole).output;
  assert.equal(w.body.length, MIB);
  assert.equal(w.truncated, undefined, 'exactly at the limit: nothing cut');

  const cut = await settle('http-refund', { sink: s.id, charge: 'ch_big2', amount: 1 });
  assert.equal(cut.status, 'completed', JSON.stringify(cut).slice(0, 500));
  const o = stepOf(cut).output;
  assert.equal(o.status, 200);
  assert.equal(o.truncated, true);
  assert.equal(o.received_bytes, MIB + 1);
  // 1 MiB less the longest secret (HTTP_CUT_BODY_KEEP): no secret stands cut in half at the end
  assert.equal(o.body, 'a'.repeat(KEEP), 'the first 960 KiB, and nothing after');

  // a JSON answer cut short does not parse: its start is there as text
  const json = await settle('http-refund', { sink: s.id, charge: 'ch_big3', amount: 1 });
  const j = stepOf(json).output;
  assert.equal(j.truncated, true);
  assert.equal(j.received_bytes, MIB + 10);
  assert.equal(typeof j.body, 'string');
  assert.ok(j.body.startsWith('{"pad":"ccc') && j.body.length === KEEP);

  // a failed answer records the mark too
  const bad = await settle('http-refund', { sink: s.id, charge: 'ch_big4', amount: 1 });
  assert.equal(bad.status, 'failed');
  const resp = stepOf(bad).response;
  assert.equal(resp.status, 422);
  assert.equal(resp.truncated, true);
  assert.equal(resp.received_bytes, MIB + 5);
  assert.equal(resp.body.length, KEEP);
});

test('a cut answer shows no part of a secret: one crossing the 1 MiB edge is dropped with the margin, one crossing the kept part is replaced whole', T, async () => {
  const MIB = 1024 * 1024, KEEP = MIB - 64 * 1024;
  const s = await sink({ script: [
    { status: 200, body: 'a'.repeat(MIB - 10) + SECRET + 'b'.repeat(50) },
    { status: 200, body: 'a'.repeat(KEEP - 10) + SECRET + 'c'.repeat(MIB) },
  ] });
  const edge = stepOf(await settle('http-refund', { sink: s.id, charge: 'ch_cut1', amount: 1 })).output;
  assert.equal(edge.truncated, true);
  assert.equal(edge.body, 'a'.repeat(KEEP), 'the part of the secret before the 1 MiB cut is not kept');
  const across = stepOf(await settle('http-refund', { sink: s.id, charge: 'ch_cut2', amount: 1 })).output;
  assert.equal(across.truncated, true);
  assert.equal(across.body, 'a'.repeat(KEEP - 10) + '***', 'the secret crossing the kept part is replaced whole');
  for (let n = 4; n < SECRET.length; n++) {
    assert.ok(!edge.body.endsWith(SECRET.slice(0, n)) && !across.body.endsWith(SECRET.slice(0, n)),
      `a body ends with the first ${n} characters of the secret`);
  }
});

test('permanent failures without on_error fail the run with the status in the error: a 4xx, and a 2xx not in accept', T, async () => {
  const s = await sink({ script: [{ status: 402 }] });
  const a = await settle('http-strict', { sink: s.id, charge: 'ch_b3', amount: 1 });
  assert.equal(a.status, 'failed', JSON.stringify(a));
  assert.match(JSON.stringify(a.error), /402/);
  assert.equal(stepOf(a).attempts, 1);
  assert.ok(!a.steps.some((x) => x.id === 'after'));

  const b = await settle('http-strict', { sink: s.id, charge: 'ch_b4', amount: 1 });
  assert.equal(b.status, 'failed', `200 is not in accept [201]: ${JSON.stringify(b)}`);
  assert.match(JSON.stringify(b.error), /200/);
  assert.equal(stepOf(b).attempts, 1);
  assert.equal(s.requests.length, 2, 'no retries');
});

test('transient failures that outlast max_attempts fail the step and take on_error', T, async () => {
  const s = await sink({ script: [{ status: 500 }, { status: 502 }, { status: 503 }, { status: 504 }, { status: 200 }] });
  let run = await settle('http-flaky', { sink: s.id, charge: 'ch_b5', amount: 3 });
  for (let i = 0; i < 3; i++) run = await fireRetry(run);
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.deepEqual(run.output, { rescued: true });
  assert.equal(stepOf(run).status, 'failed');
  assert.equal(stepOf(run).attempts, 4);
  assert.match(JSON.stringify(stepOf(run).error), /504/);
  assert.equal(s.requests.length, 4);
  assert.equal(s.pending(), 1, 'no fifth attempt');
});

test('a refused connection is transient: retried with back-off, recorded per attempt, then on_error', T, async () => {
  // $env.DEAD_API: a port nothing listens on
  let run = await settle('http-refused', { charge: 'ch_refused', amount: 1 });
  for (let i = 0; i < 3; i++) run = await fireRetry(run);
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.deepEqual(run.output, { rescued: true });
  assert.equal(stepOf(run).attempts, 4);
  const attempts = await httpAttempts(run.id);
  assert.equal(attempts.length, 4, 'one audit row per attempt');
  assert.ok(attempts.every((a) => a.data.error && !a.data.status), JSON.stringify(attempts.map((a) => a.data)));
});

// ---- (c) timeouts ----------------------------------------------------------

test('a call that never answers times out after its timeout and is retried', T, async () => {
  const s = await sink({ script: ['hang'] });
  const t0 = Date.now();
  let run = await settle('http-slow', { sink: s.id, charge: 'ch_c1', amount: 9 });
  const took = Date.now() - t0;
  assert.equal(run.status, 'waiting', JSON.stringify(run));
  assert.equal(run.waiting.type, 'retry');
  assert.ok(took >= 900 && took < 10_000, `the 1s timeout ended the first attempt (${took} ms)`);
  let rows = await httpAttempts(run.id);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].data.status, undefined);
  assert.match(rows[0].data.error, /time/i, `the error says it timed out: ${rows[0].data.error}`);

  run = await fireRetry(run);
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.equal(stepOf(run).attempts, 2);
  rows = await httpAttempts(run.id);
  assert.equal(rows.at(-1).data.status, 200);
  assert.equal(s.requests.length, 2);
  assert.equal(s.requests[0].idempotencyKey, s.requests[1].idempotencyKey);
  assert.equal(s.refunds.length, 1);
});

test('a call the API applied but answered too late: the retry with the same key gets the stored refund, not a second one', T, async () => {
  const s = await sink({ delayMs: 1500 });
  let run = await settle('http-slow', { sink: s.id, charge: 'ch_c2', amount: 11 });
  assert.equal(run.status, 'waiting', JSON.stringify(run));
  assert.equal(run.waiting.type, 'retry');
  // the API finishes the first request after the client gave up on it
  const deadline = Date.now() + 10_000;
  while ((s.inflight > 0 || s.refunds.length === 0) && Date.now() < deadline) await sleep(20);
  assert.equal(s.refunds.length, 1);
  run = await fireRetry(run);
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.deepEqual(s.requests.map((r) => r.outcome), ['applied', 'replayed']);
  assert.equal(s.requests[0].delivered, false, 'the first answer found the client gone');
  assert.deepEqual(stepOf(run).output.body, s.refunds[0], 'the replayed refund is the output');
  assert.equal(stepOf(run).output.headers['idempotent-replayed'], 'true');
  assert.equal(s.applied().get(`${run.id}/refund/1`), 1);
});

// ---- (d) kill -9 with calls in flight --------------------------------------

const CRASH = `
name: http-crash
steps:
  - id: refund
    http:
      method: POST
      url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"
      json: {charge: "{{ .input.charge }}", amount: "{{ .input.amount }}"}
      timeout: 30s
    retry: {max_attempts: 5, backoff: 1s, jitter: false}
`;

test('kill -9 during 200 in-flight calls to a slow API: after restart every run completes and each key is applied exactly once', { timeout: 600_000 }, async () => {
  const N = 200, KILL_AT = 100;
  const own = new Server(ENV);
  let killing = null, inflightAtKill = -1, receivedAtKill = -1;
  const s = await sink({
    delayMs: 1500,
    onRequest: () => {
      const received = s.requests.length;
      if (received >= KILL_AT && !killing) {
        receivedAtKill = received;
        inflightAtKill = s.inflight;
        killing = own.kill9();
      }
    },
  });
  try {
    await own.start();
    await own.applyWorkflow(CRASH);
    const input = (i) => ({ sink: s.id, charge: `ch_d${i}`, amount: 100 + i });
    const start = (i) => own.api('POST', '/v1/runs', { body: { workflow: 'http-crash', input: input(i) }, headers: { 'Idempotency-Key': `start-${i}` } });

    // Start runs at a steady pace (so that some calls are answered, some in
    // flight and some not sent yet when it dies) until the sink has seen
    // KILL_AT requests and the server is killed.
    const ids = new Array(N).fill(null);
    let next = 0;
    await Promise.all(Array.from({ length: 2 }, async () => {
      while (!killing && next < N) {
        const i = next++;
        try {
          const r = await start(i);
          if (r.status === 201) ids[i] = r.json.id;
          else if (!killing) assert.fail(`start ${i}: ${describeResponse(r)}`);
        } catch (e) {
          if (!killing) throw e;
        }
        await sleep(10);
      }
    }));
    // all started before the sink saw enough? wait for the requests to come
    const waitKill = Date.now() + 30_000;
    while (!killing && Date.now() < waitKill) await sleep(10);
    assert.ok(killing, `the sink saw ${s.requests.length} requests, never ${KILL_AT}`);
    const res = await killing;
    assert.equal(res.signal, 'SIGKILL');
    assert.ok(inflightAtKill > 0, `calls were in flight at the kill (${inflightAtKill})`);
    console.log(`kill -9 with ${receivedAtKill} requests received, ${inflightAtKill} being processed; ${ids.filter(Boolean).length} runs acknowledged`);

    // Restart at once, while the API still works on the calls it had: the
    // engine's re-sends meet 409 "key in use" and wait it out.
    await own.start();
    const inflightAtRestart = s.inflight;

    // starts not acknowledged (or never sent) are sent again with their key:
    // 200 and the run already made where the first start landed before the
    // kill, 201 and a new run where it did not
    const listed = await own.api('GET', '/v1/runs?workflow=http-crash&limit=1000');
    assert.equal(listed.status, 200, describeResponse(listed));
    const landed = new Map(listed.json.items.map((r) => [r.input.charge, r.id]));
    await pool([...ids.keys()].filter((i) => !ids[i]), 8, async (i) => {
      const r = await start(i);
      const before = landed.get(input(i).charge);
      assert.equal(r.status, before ? 200 : 201,
        `start ${i} again (${before ? `landed as ${before}` : 'never landed'}): ${describeResponse(r)}`);
      if (before) assert.equal(r.json.id, before, `start ${i} again returns the run that landed`);
      ids[i] = r.json.id;
    });
    assert.equal(new Set(ids).size, N, 'one run per start');

    const done = await pool(ids, 16, (id) => waitRun(own, id, { timeoutMs: 300_000 }));
    const notDone = done.filter((r) => r.status !== 'completed');
    assert.deepEqual(notDone.map((r) => `${r.id}: ${r.status} ${JSON.stringify(r.error)}`), [], 'every run completed');

    const applied = s.applied();
    assert.equal(applied.size, N, `${applied.size} keys applied`);
    assert.deepEqual([...applied].filter(([, n]) => n !== 1), [], 'no key applied twice');
    assert.equal(s.refunds.length, N, 'one refund per run');
    const appliedRec = new Map(s.requests.filter((r) => r.outcome === 'applied').map((r) => [r.idempotencyKey, r]));
    done.forEach((run, i) => {
      const key = `${run.id}/refund/1`;
      assert.equal(applied.get(key), 1, `${key} applied once`);
      const out = stepOf(run).output;
      assert.equal(out.status, 200);
      assert.equal(out.body.charge, `ch_d${i}`);
      assert.equal(out.body.id, appliedRec.get(key).response.id, `${run.id} holds the refund the API made for its key`);
    });
    const outcomes = new Map();
    for (const r of s.requests) outcomes.set(r.outcome, (outcomes.get(r.outcome) || 0) + 1);
    const replays = new Map();
    for (const r of s.requests) if (r.outcome === 'replayed') replays.set(r.idempotencyKey, (replays.get(r.idempotencyKey) || 0) + 1);
    console.log(`sink outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}; ${replays.size} keys replayed, ` +
      `at most ${Math.max(0, ...replays.values())} times each; answers lost in the crash: ` +
      `${s.requests.filter((r) => r.outcome === 'applied' && r.delivered === false).length}`);
    assert.deepEqual([...outcomes.keys()].filter((o) => !['applied', 'replayed', 'in_progress'].includes(o)), [],
      'nothing but applications, replays and "key in use" while the first request was still processed');
    console.log(`${inflightAtRestart} calls still being processed by the API when the server was back`);
    // a refund whose answer was lost in the crash was asked for again, and replayed
    const lost = s.requests.filter((r) => r.outcome === 'applied' && r.delivered === false);
    assert.ok(lost.length > 0, 'some answers were lost in the crash');
    for (const r of lost) {
      assert.ok(s.requests.some((x) => x.outcome === 'replayed' && x.idempotencyKey === r.idempotencyKey),
        `the call for ${r.idempotencyKey} was sent again after the restart`);
    }
    await own.stopClean();
  } finally {
    await own.dispose();
  }
});

// ---- (e) a thousand slow calls ---------------------------------------------

const BURST = `
name: http-burst
steps:
  - id: hold
    wait: {for: 1h}
  - id: refund
    http:
      method: POST
      url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"
      json: {charge: "{{ .input.charge }}", amount: 1}
      timeout: 60s
`;

const WARM = `
name: http-warm
steps:
  - id: refund
    http:
      method: POST
      url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"
      json: {charge: "ch_warm"}
`;

function threadsOf(pid) {
  const m = /^Threads:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

test('1,000 concurrent slow calls (2 s each) all complete, on as many threads as before', { timeout: 600_000 }, async () => {
  const N = 1000;
  const own = new Server({ args: ['--test-clock', ...ENV.args], env: ENV.env });
  const s = await sink({ delayMs: 2000 });
  try {
    await own.start();
    await own.applyWorkflow(BURST);
    await own.applyWorkflow(WARM);
    // one call first, so that whatever the server starts on first use is there
    const warm = await settle('http-warm', { sink: s.id }, { s: own });
    const warmDone = FINAL.has(warm.status) ? warm : await waitRun(own, warm.id);
    assert.equal(warmDone.status, 'completed', JSON.stringify(warmDone));

    const ids = await pool(Array.from({ length: N }, (_, i) => i), 32, async (i) => {
      const r = await own.api('POST', '/v1/runs', { body: { workflow: 'http-burst', input: { sink: s.id, charge: `ch_e${i}` } } });
      assert.equal(r.status, 201, describeResponse(r));
      return r.json.id;
    });
    const waiting = await own.api('GET', '/v1/runs?workflow=http-burst&status=waiting&limit=1000');
    assert.equal(waiting.json.items.length, N, 'all runs wait before the burst');

    const pid = own.proc.pid;
    const before = threadsOf(pid);
    const during = [];
    let peak = 0;
    const t0 = Date.now();
    const moved = await own.api('POST', '/v1/admin/clock', { body: { advance: '1h' } });
    assert.equal(moved.status, 200, describeResponse(moved));
    let completed = 0, tDone = null;
    while (Date.now() - t0 < 300_000) {
      peak = Math.max(peak, s.inflight);
      if (s.inflight > 0) during.push(threadsOf(pid));
      const r = await own.api('GET', '/v1/runs?workflow=http-burst&status=completed&limit=1000');
      assert.equal(r.status, 200, describeResponse(r));
      completed = r.json.items.length;
      if (completed === N) { tDone = Date.now(); break; }
      await sleep(50);
    }
    console.log(`${N} concurrent slow calls (2 s each): all runs completed ${tDone ? tDone - t0 : '>300000'} ms after the clock moved; ` +
      `at most ${peak} in flight at once at the sink; threads ${before} before, ${[...new Set(during)].join('/')} during`);
    assert.equal(completed, N, `${completed} of ${N} runs completed`);
    assert.ok(during.length > 0, 'the thread count was sampled during the burst');
    assert.deepEqual([...new Set(during)], [before], `threads before ${before}, during ${during.join(',')}`);

    const applied = s.applied();
    assert.equal(applied.size, N + 1);
    assert.ok([...applied.values()].every((n) => n === 1));
    const sample = await getRun(ids[N - 1], own);
    assert.equal(stepOf(sample).output.body.charge, `ch_e${N - 1}`);
    await own.stopClean();
  } finally {
    await own.dispose();
  }
});

// Stripe answers 409 (idempotency_key_in_use) to a request whose key is
// still being processed, and asks for a retry later. After a crash the
// engine re-sends in-flight calls at once, so a restart quicker than the API
// meets exactly that: a 409 to a call with an Idempotency-Key is transient.
test('a restart while the API still processes the call: its 409 "key in use" is waited out, not a failure', { timeout: 120_000 }, async () => {
  const own = new Server(ENV);
  const s = await sink({ delayMs: 4000 });
  try {
    await own.start();
    await own.applyWorkflow(CRASH);
    const r = await own.api('POST', '/v1/runs', { body: { workflow: 'http-crash', input: { sink: s.id, charge: 'ch_409', amount: 5 } } });
    assert.equal(r.status, 201, describeResponse(r));
    while (s.inflight === 0) await sleep(10);
    await own.kill9();
    await own.start();                   // well within the API's 4 s
    const done = await waitRun(own, r.json.id);
    console.log(`sink outcomes: ${s.requests.map((x) => `${x.outcome}:${x.status}`).join(', ')}; run ${done.status} ${JSON.stringify(done.error)}`);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(s.applied().get(`${r.json.id}/refund/1`), 1);
    assert.equal(stepOf(done).output.body.id, s.refunds[0].id);
    await own.stopClean();
  } finally {
    await own.dispose();
  }
});

test('a form value that is not text (an object) fails the step naming the field; nothing is sent', T, async () => {
  const s = await startSink({ hub });
  try {
    const run = await settle('http-formy', { sink: s.id, charge: 'ch_f', meta: { a: 1 } });
    assert.equal(run.status, 'failed', JSON.stringify(run));
    assert.match(JSON.stringify(stepOf(run).error), /http form\.meta: expected a string, got an object/);
    assert.equal(s.requests.length, 0, 'no request with an empty body went out');
    const ok = await settle('http-formy', { sink: s.id, charge: 'ch_f', meta: 7 });
    assert.equal(ok.status, 'completed', JSON.stringify(ok));
    assert.equal(s.requests.length, 1);
    assert.equal(s.requests[0].raw, 'charge=ch_f&meta=7');
  } finally {
    await s.close();
  }
});
