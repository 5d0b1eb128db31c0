// Time, driven by the test clock: gate timeouts with each on_timeout,
// escalations, reminders, wait steps and retry back-off - across restarts.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { Server, describeResponse, sleep, useServer } from './lib/server.mjs';
import { decide, inbox, startRun, startWaiting, waitRun } from './lib/world.mjs';

const T = { timeout: 120_000 };
const srv = useServer({ args: ['--test-clock'] });
const keys = {};

async function advance(by) {
  const r = await srv.api('POST', '/v1/admin/clock', { body: { advance: by } });
  assert.equal(r.status, 200, `advance ${by}: ${describeResponse(r)}`);
  return r.json;
}

async function gate(id) {
  const r = await srv.api('GET', `/v1/approvals/${id}`);
  assert.equal(r.status, 200, describeResponse(r));
  return r.json;
}

async function run(id) {
  const r = await srv.api('GET', `/v1/runs/${id}`);
  assert.equal(r.status, 200, describeResponse(r));
  return r.json;
}

const inboxIds = async (token) => (await inbox(srv, token)).map((g) => g.id);

const ESCALATE = `
name: escalate
steps:
  - id: prep
    transform: '{amount: .input.amount}'
  - id: pay
    approval:
      title: "pay {{ .input.amount }}"
      to: [team:finance]
      timeout: 24h
      escalate: [{after: 4h, to: [user:cfo]}]
      remind: {every: 2h, max: 3}
      on_timeout: reject
    transform: '{paid: .proposal.amount}'
    on_reject: declined
  - id: done
    succeed: {}
  - id: declined
    transform: '{declined: true}'
`;

// One workflow per on_timeout choice.
function timeoutFlow(name, onTimeout) {
  return `
name: ${name}
steps:
  - id: prep
    transform: '{amount: .input.amount}'
  - id: pay
    approval:
      to: [team:finance]
      timeout: 1h
      on_timeout: ${onTimeout}
    transform: '{paid: .proposal.amount}'
    on_reject: declined
  - id: after
    succeed: {}
  - id: declined
    transform: '{declined: true}'
    next: end
  - id: fallback
    transform: '{fallback: .input.amount}'
`;
}

const WAIT = `
name: waits
steps:
  - id: first
    transform: '{n: .input.n}'
  - id: pause
    wait: {for: 2h}
  - id: until
    wait: {until: '.input.until'}
  - id: last
    transform: '{done: .steps.first.output.n}'
`;

const RETRY = `
name: retries
steps:
  - id: flaky
    transform: '.input.missing.deep | error("still failing")'
    retry: {max_attempts: 3, backoff: 1m, max_backoff: 10m, jitter: false}
    on_error: rescue
  - id: rescue
    transform: '{rescued: true}'
`;

before(async () => {
  await srv.applyWorkflow(ESCALATE);
  for (const [name, ot] of [['ot-reject', 'reject'], ['ot-approve', 'approve'], ['ot-fail', 'fail'],
    ['ot-step', 'fallback']]) await srv.applyWorkflow(timeoutFlow(name, ot));
  await srv.applyWorkflow(WAIT);
  await srv.applyWorkflow(RETRY);
  keys.fin = await srv.userWithKey('fin', { teams: ['finance'] });
  keys.cfo = await srv.userWithKey('cfo');
  keys.starter = await srv.userWithKey('starter');
}, T);

test('a 24h gate escalating to the CFO at 4h: hidden at 3h, shared at 5h, expires once after a restart', T, async () => {
  const { run: r0, approvalId } = await startWaiting(srv, 'escalate', { amount: 900 }, { token: keys.starter });
  let g = await gate(approvalId);
  assert.ok(g.due_at, 'the gate says when it is due');
  assert.equal(g.on_timeout, 'reject');
  assert.equal(g.escalation_level, 0);

  await advance('3h');
  assert.ok(!(await inboxIds(keys.cfo)).includes(approvalId), 'the CFO does not see it at 3h');
  assert.ok((await inboxIds(keys.fin)).includes(approvalId), 'finance sees it');
  g = await gate(approvalId);
  assert.equal(g.reminders_sent, 1, 'one reminder at 2h');

  await advance('2h');                                                       // 5h
  assert.ok((await inboxIds(keys.cfo)).includes(approvalId), 'the CFO sees it at 5h');
  assert.ok((await inboxIds(keys.fin)).includes(approvalId), 'finance still sees it (mode add)');
  g = await gate(approvalId);
  assert.equal(g.escalation_level, 1);
  assert.deepEqual(g.assignees, ['team:finance', 'user:cfo']);
  assert.equal(g.status, 'pending');

  await srv.restart();
  await advance('20h');                                                      // 25h
  g = await gate(approvalId);
  assert.equal(g.status, 'expired');
  assert.equal(g.reminders_sent, 3, 'reminders stop at max');
  const done = await waitRun(srv, r0.id);
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.output, { declined: true }, 'on_timeout reject took the on_reject path');
  assert.equal(done.steps.filter((s) => s.id === 'declined').length, 1, 'the on_reject step ran once');

  const late = await decide(srv, approvalId, keys.cfo, { decision: 'approve' });
  assert.equal(late.status, 409, describeResponse(late));
  assert.equal(late.json.error.code, 'expired');

  await advance('48h');                                                      // nothing left to fire
  const rows = await srv.audit({ approval_id: approvalId });
  const count = (type) => rows.filter((row) => row.type === type).length;
  assert.equal(count('gate.escalated'), 1, 'one escalation on record');
  assert.equal(count('gate.expired'), 1, 'one expiry on record');
  assert.equal(count('gate.reminded'), 3, 'three reminders on record');
});

test('on_timeout reject, approve, fail and a step id each do what the docs say', T, async () => {
  const started = {};
  for (const name of ['ot-reject', 'ot-approve', 'ot-fail', 'ot-step']) {
    started[name] = await startWaiting(srv, name, { amount: 70 }, { token: keys.starter });
  }
  await advance('61m');
  const out = {};
  for (const [name, s] of Object.entries(started)) {
    assert.equal((await gate(s.approvalId)).status, 'expired', `${name}: the gate expired`);
    out[name] = await waitRun(srv, s.run.id);
  }
  assert.equal(out['ot-reject'].status, 'completed');
  assert.deepEqual(out['ot-reject'].output, { declined: true });

  assert.equal(out['ot-approve'].status, 'completed');
  assert.deepEqual(out['ot-approve'].steps.find((s) => s.id === 'pay').output, { paid: 70 },
    'approve runs the gated step with the frozen proposal');

  assert.equal(out['ot-fail'].status, 'failed');
  assert.match(out['ot-fail'].error.message, /expired/);
  assert.ok(!out['ot-fail'].steps.some((s) => s.id === 'after'), 'nothing after the gate ran');

  assert.equal(out['ot-step'].status, 'completed');
  assert.deepEqual(out['ot-step'].output, { fallback: 70 });
  assert.equal(out['ot-step'].steps.find((s) => s.id === 'pay').status, 'expired');
});

test('a standalone approval with a timeout expires and its run records the outcome', T, async () => {
  const made = await srv.api('POST', '/v1/approvals', {
    token: keys.starter,
    body: { title: 'agent asks', proposal: { x: 1 }, to: ['user:cfo'], timeout: '30m', on_timeout: 'approve' },
  });
  assert.equal(made.status, 201, describeResponse(made));
  assert.ok(made.json.due_at);
  await advance('31m');
  assert.equal((await gate(made.json.id)).status, 'expired');
  const r = await waitRun(srv, made.json.run_id);
  assert.equal(r.status, 'completed');
  assert.equal(r.output.status, 'expired');
  assert.equal(r.output.on_timeout, 'approve');
});

test('a decided gate cancels its timers: nothing escalates or expires later', T, async () => {
  const { run: r0, approvalId } = await startWaiting(srv, 'escalate', { amount: 10 }, { token: keys.starter });
  const ok = await decide(srv, approvalId, keys.fin, { decision: 'approve' });
  assert.equal(ok.status, 200, describeResponse(ok));
  await advance('30h');
  const g = await gate(approvalId);
  assert.equal(g.status, 'approved');
  assert.equal(g.escalation_level, 0);
  assert.deepEqual((await waitRun(srv, r0.id)).output, { paid: 10 });
  const rows = await srv.audit({ approval_id: approvalId });
  assert.ok(!rows.some((row) => ['gate.escalated', 'gate.expired', 'gate.reminded'].includes(row.type)),
    `no timer fired for a decided gate: ${rows.map((row) => row.type).join(', ')}`);
});

test('wait steps pause for a duration and until a time, and survive a restart', T, async () => {
  const now = Date.parse((await advance('1s')).now);
  const until = new Date(now + 5 * 3600_000).toISOString();
  let r = await startRun(srv, 'waits', { n: 7, until }, { token: keys.starter });
  if (r.status === 'running') r = await waitRun(srv, r.id, { pred: (x) => x.status !== 'running' });
  assert.equal(r.status, 'waiting');
  assert.equal(r.waiting.type, 'wait');
  assert.ok(Date.parse(r.waiting.until) >= now + 2 * 3600_000 - 1000, `waits 2h: ${JSON.stringify(r.waiting)}`);

  await advance('1h');
  assert.equal((await run(r.id)).status, 'waiting', 'still waiting after 1h');
  await srv.restart();
  await advance('61m');                                                      // past the 2h wait
  r = await run(r.id);
  assert.equal(r.status, 'waiting', 'now waiting for the until time');
  assert.equal(r.waiting.type, 'wait');
  assert.equal(Date.parse(r.waiting.until), Date.parse(until));
  await advance('3h');                                                       // past until
  r = await waitRun(srv, r.id);
  assert.equal(r.status, 'completed');
  assert.deepEqual(r.output, { done: 7 });
  assert.deepEqual(r.steps.map((s) => s.id), ['first', 'pause', 'until', 'last'], 'each step ran once');
});

test('retry back-off: each attempt waits its turn, survives a restart, then on_error takes over', T, async () => {
  let r = await startRun(srv, 'retries', {}, { token: keys.starter });
  if (r.status === 'running') r = await waitRun(srv, r.id, { pred: (x) => x.status !== 'running' });
  assert.equal(r.status, 'waiting', JSON.stringify(r));
  assert.equal(r.waiting.type, 'retry');
  assert.equal(r.steps[0].attempts, 1);
  assert.match(r.steps[0].error.message, /still failing/);

  await advance('30s');
  assert.equal((await run(r.id)).steps[0].attempts, 1, 'not before the 1m back-off');
  await advance('31s');
  r = await run(r.id);
  assert.equal(r.steps[0].attempts, 2, 'the second attempt after 1m');
  assert.equal(r.waiting.type, 'retry', 'and a 2m back-off before the third');

  await srv.restart();
  await advance('2m');
  r = await waitRun(srv, r.id);
  assert.equal(r.status, 'completed');
  assert.equal(r.steps[0].attempts, 3);
  assert.equal(r.steps[0].status, 'failed');
  assert.deepEqual(r.output, { rescued: true });
});

test('a timer that fell due while the server was down fires right after start-up (real clock)', T, async () => {
  const real = new Server();
  try {
    await real.start();
    const made = await real.api('POST', '/v1/approvals', {
      body: { title: 'soon', to: ['user:admin'], timeout: '1s', on_timeout: 'reject' },
    });
    assert.equal(made.status, 201, describeResponse(made));
    await real.stop();
    await sleep(1500);                              // due while nobody runs
    await real.start();
    const r = await real.api('GET', `/v1/approvals/${made.json.id}?wait=10`);
    assert.equal(r.status, 200, describeResponse(r));
    assert.equal(r.json.status, 'expired');
    const rows = await real.audit({ approval_id: made.json.id });
    assert.equal(rows.filter((row) => row.type === 'gate.expired').length, 1);
  } finally {
    await real.dispose();
  }
});
