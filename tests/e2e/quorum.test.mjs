// Gates resolve exactly once, however many decisions arrive at the same moment,
// and multi-approver policies count distinct approvers.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { describeResponse, pool, useServer } from './lib/server.mjs';
import { countBy, decide, startWaiting, waitRun } from './lib/world.mjs';

const T = { timeout: 300_000 };
// 200 decisions in flight at once stand for 200 clients, but all come from
// 127.0.0.1: allow this one address more than the default 64 connections.
const srv = useServer({ args: ['--max-connections-per-ip', '1024'] });
const keys = {};

const RACE = `
name: race
steps:
  - id: prep
    transform: '{n: .input.n}'
  - id: gate
    approval:
      title: "race {{ .input.n }}"
      to: [team:racers]
      require_comment: never
  - id: after
    transform: '{done: .input.n}'
`;

const PAIR = `
name: pair
steps:
  - id: prep
    transform: '{n: .input.n}'
  - id: gate
    approval:
      title: "pair {{ .input.n }}"
      to: [team:racers]
      policy: {approvals: 2}
    on_reject: fail
  - id: after
    transform: '{done: .input.n}'
`;

before(async () => {
  await srv.applyWorkflow(RACE);
  await srv.applyWorkflow(PAIR);
  for (const u of ['r1', 'r2', 'r3']) keys[u] = await srv.userWithKey(u, { teams: ['racers'] });
  keys.starter = await srv.userWithKey('starter');
}, T);

test('two approvers racing on 100 gates at once: each gate resolves exactly once with one 200 and one 409, each run completes once', T, async () => {
  const N = 100;
  const started = await pool(Array.from({ length: N }, (_, i) => i), 10,
    (i) => startWaiting(srv, 'race', { n: i }, { token: keys.starter }));
  const gates = started.map((s) => s.approvalId);
  assert.equal(new Set(gates).size, N, 'each run has its own gate');

  // every decision of every gate in flight at the same time
  const results = await Promise.all(gates.map((id) => Promise.all([
    decide(srv, id, keys.r1, { decision: 'approve' }),
    decide(srv, id, keys.r2, { decision: 'approve' }),
  ])));

  const winners = new Map();
  const bad = [];
  results.forEach(([a, b], i) => {
    const st = [a.status, b.status].sort().join(',');
    if (st !== '200,409') bad.push(`${gates[i]}: r1 ${a.status} ${a.text.slice(0, 120)} / r2 ${b.status} ${b.text.slice(0, 120)}`);
    else winners.set(gates[i], a.status === 200 ? 'r1' : 'r2');
  });
  assert.deepEqual(bad, [], `every gate must give exactly one 200 and one 409:\n${bad.slice(0, 10).join('\n')}`);

  // each gate: approved, one decision, by the approver that got the 200
  await pool(gates, 8, async (id) => {
    const r = await srv.api('GET', `/v1/approvals/${id}`);
    assert.equal(r.status, 200, describeResponse(r));
    assert.equal(r.json.status, 'approved');
    assert.equal(r.json.decisions.length, 1, `${id} decisions: ${JSON.stringify(r.json.decisions)}`);
    assert.equal(r.json.decisions[0].by, winners.get(id), `${id}: the recorded decision is the acknowledged one`);
  });

  // each run completes
  await pool(started, 8, async ({ run }) => {
    const done = await waitRun(srv, run.id);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.deepEqual(done.steps.map((s) => s.id), ['prep', 'gate', 'after']);
    assert.deepEqual(done.output, { done: started.findIndex((s) => s.run.id === run.id) });
  });

  // the trail: one decision, one gate.resolved per gate; one run.ended per run
  const rows = await srv.audit();
  const gateSet = new Set(gates);
  const runSet = new Set(started.map((s) => s.run.id));
  const resolved = countBy(rows.filter((x) => x.type === 'gate.resolved' && gateSet.has(x.approval_id)), (x) => x.approval_id);
  const decisions = countBy(rows.filter((x) => x.type === 'decision' && gateSet.has(x.approval_id)), (x) => x.approval_id);
  const ended = countBy(rows.filter((x) => x.type === 'run.ended' && runSet.has(x.run_id)), (x) => x.run_id);
  for (const id of gates) {
    assert.equal(resolved.get(id), 1, `gate.resolved rows for ${id}`);
    assert.equal(decisions.get(id), 1, `decision rows for ${id}`);
  }
  for (const id of runSet) assert.equal(ended.get(id), 1, `run.ended rows for ${id}`);

  const v = await srv.api('GET', '/v1/audit/verify');
  assert.equal(v.status, 200);
  assert.equal(v.json.ok, true, v.text);
});

test('a gate with policy {approvals: 2} stays pending after one approval, refuses the same approver twice, and resolves on a second distinct approver', T, async () => {
  const { run, approvalId } = await startWaiting(srv, 'pair', { n: 1 }, { token: keys.starter });
  const one = await decide(srv, approvalId, keys.r1, { decision: 'approve' });
  assert.equal(one.status, 200, describeResponse(one));
  assert.equal(one.json.status, 'pending', 'one approval of two leaves the gate pending');
  assert.equal(one.json.decisions.length, 1);
  assert.equal(one.json.policy.approvals, 2);

  const twice = await decide(srv, approvalId, keys.r1, { decision: 'approve' });
  assert.equal(twice.status, 409, `the same approver again: ${describeResponse(twice)}`);
  let g = (await srv.api('GET', `/v1/approvals/${approvalId}`)).json;
  assert.equal(g.status, 'pending');
  assert.equal(g.decisions.length, 1, 'the repeated decision is not recorded');
  let r = (await srv.api('GET', `/v1/runs/${run.id}`)).json;
  assert.equal(r.status, 'waiting', 'the run still waits');

  const two = await decide(srv, approvalId, keys.r2, { decision: 'approve' });
  assert.equal(two.status, 200, describeResponse(two));
  assert.equal(two.json.status, 'approved');
  assert.deepEqual(two.json.decisions.map((d) => d.by), ['r1', 'r2']);

  const three = await decide(srv, approvalId, keys.r3, { decision: 'approve' });
  assert.equal(three.status, 409, `a third approver after resolution: ${describeResponse(three)}`);

  r = await waitRun(srv, run.id);
  assert.equal(r.status, 'completed');
  assert.deepEqual(r.output, { done: 1 });
});

test('under policy {approvals: 2} a single reject resolves the gate as rejected, before or after an approval', T, async () => {
  // reject first
  const a = await startWaiting(srv, 'pair', { n: 2 }, { token: keys.starter });
  const rej = await decide(srv, a.approvalId, keys.r1, { decision: 'reject', comment: 'no' });
  assert.equal(rej.status, 200, describeResponse(rej));
  assert.equal(rej.json.status, 'rejected');
  const late = await decide(srv, a.approvalId, keys.r2, { decision: 'approve' });
  assert.equal(late.status, 409, describeResponse(late));
  let run = await waitRun(srv, a.run.id);
  assert.equal(run.status, 'failed', `on_reject: fail ends the run failed: ${JSON.stringify(run)}`);

  // approve, then reject
  const b = await startWaiting(srv, 'pair', { n: 3 }, { token: keys.starter });
  assert.equal((await decide(srv, b.approvalId, keys.r1, { decision: 'approve' })).status, 200);
  const rej2 = await decide(srv, b.approvalId, keys.r2, { decision: 'reject', comment: 'not this one' });
  assert.equal(rej2.status, 200, describeResponse(rej2));
  assert.equal(rej2.json.status, 'rejected');
  assert.equal(rej2.json.decisions.length, 2);
  run = await waitRun(srv, b.run.id);
  assert.equal(run.status, 'failed');
  assert.ok(!run.steps.some((s) => s.id === 'after'), 'the step after a rejected gate did not run');
});

test('a standalone approval with policy {approvals: "all"} needs every member of its team, and says so', T, async () => {
  const made = await srv.api('POST', '/v1/approvals', {
    token: keys.starter,
    body: { title: 'all racers', proposal: { x: 1 }, to: ['team:racers'], policy: { approvals: 'all' } },
  });
  assert.equal(made.status, 201, describeResponse(made));
  assert.equal(made.json.policy.approvals, 'all');
  const id = made.json.id;
  for (const u of ['r1', 'r2']) {
    const r = await decide(srv, id, keys[u], { decision: 'approve' });
    assert.equal(r.status, 200, describeResponse(r));
    assert.equal(r.json.status, 'pending', `after ${u} the gate still needs r3`);
  }
  const last = await decide(srv, id, keys.r3, { decision: 'approve' });
  assert.equal(last.status, 200, describeResponse(last));
  assert.equal(last.json.status, 'approved');
  const run = await waitRun(srv, made.json.run_id);
  assert.equal(run.status, 'completed');

  for (const approvals of [0, 1001, 'most', 1.5]) {
    const bad = await srv.api('POST', '/v1/approvals', {
      token: keys.starter,
      body: { title: 'bad', to: ['team:racers'], policy: { approvals } },
    });
    assert.equal(bad.status, 400, `approvals ${JSON.stringify(approvals)}: ${describeResponse(bad)}`);
    assert.match(bad.json.error.message, /policy\.approvals/);
  }
});
