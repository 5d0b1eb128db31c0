// The refund story of examples/refund.yaml, told over the HTTP API.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { describeResponse, errorShape, useServer } from './lib/server.mjs';
import { decide, inbox, refundInput, refundWorld, startRun, startWaiting, waitRun } from './lib/world.mjs';

const T = { timeout: 180_000 };
const srv = useServer();
let keys;

before(async () => {
  ({ keys } = await refundWorld(srv));
}, T);

async function gate(id, token) {
  const r = await srv.api('GET', `/v1/approvals/${id}`, { token });
  assert.equal(r.status, 200, `GET /v1/approvals/${id}: ${describeResponse(r)}`);
  return r.json;
}

test('a VIP refund of 612 waits for finance, finance alone sees it, and an approval with an edit refunds 550', T, async () => {
  const { run, approvalId } = await startWaiting(srv, 'refund', refundInput(612), { token: keys.requester });
  assert.match(run.id, /^run_[A-Za-z0-9_-]+$/);
  assert.equal(run.workflow, 'refund');
  assert.equal(run.started_by, 'requester');
  assert.deepEqual(run.steps.map((s) => s.id), ['draft', 'issue_refund']);
  assert.equal(run.steps[0].status, 'completed');

  // alice (finance) sees it in her inbox with the frozen, rendered content.
  const mine = await inbox(srv, keys.alice);
  const item = mine.find((g) => g.id === approvalId);
  assert.ok(item, `alice's inbox lacks ${approvalId}: ${JSON.stringify(mine.map((g) => g.id))}`);
  assert.equal(item.status, 'pending');
  assert.equal(item.run_id, run.id);
  assert.equal(item.step, 'issue_refund');
  assert.equal(item.summary, 'Refund of $612 for a vip customer');
  assert.equal(item.title, 'Refund · over auto-approve limit');
  assert.deepEqual(item.proposal, { charge: 'ch_123', amount: 612, currency: 'usd' });
  assert.equal(typeof item.reasoning, 'string');
  assert.match(item.reasoning, /T-1001/);
  assert.deepEqual(item.assignees, ['team:finance']);
  assert.deepEqual(item.context, { customer: refundInput(612).customer, ticket: 'T-1001' });
  assert.equal(item.policy?.approvals, 1);
  assert.equal(item.policy?.forbid_self_approval, true);
  for (const k of Object.keys(item)) assert.ok(!k.startsWith('_'), `private member ${k} leaked into the API`);

  // bob (support-leads) and dave (no team) do not.
  for (const who of ['bob', 'dave']) {
    const theirs = await inbox(srv, keys[who]);
    assert.ok(!theirs.some((g) => g.id === approvalId), `${who}'s inbox must not contain ${approvalId}`);
  }

  // dave and bob are not assignees and may not see the gate: 404, as for a
  // gate that does not exist, and the gate is untouched.
  for (const who of ['dave', 'bob']) {
    const r = await decide(srv, approvalId, keys[who], { decision: 'approve' });
    assert.equal(r.status, 404, `${who} deciding: ${describeResponse(r)}`);
    assert.ok(errorShape(r), `error body: ${r.text}`);
  }
  let g = await gate(approvalId, keys.alice);
  assert.equal(g.status, 'pending');
  assert.deepEqual(g.decisions, []);

  // alice approves with the amount cut to 550.
  const r = await decide(srv, approvalId, keys.alice, { decision: 'approve', comment: 'capped', edits: { '/amount': 550 } });
  assert.equal(r.status, 200, `alice approving: ${describeResponse(r)}`);
  assert.equal(r.json.id, approvalId);
  assert.equal(r.json.status, 'approved');
  assert.equal(r.json.decisions.length, 1);
  const d = r.json.decisions[0];
  assert.equal(d.by, 'alice');
  assert.equal(d.decision, 'approve');
  assert.equal(d.comment, 'capped');
  const edits = JSON.stringify(d.edits);
  assert.ok(edits.includes('/amount') && edits.includes('550') && edits.includes('612'),
    `the decision records the original (612) and edited (550) amount: ${edits}`);
  assert.equal(r.json.proposal.amount, 550, 'the proposal carries the edit');
  assert.ok(r.json.resolved_at, 'resolved_at is set');

  const done = await waitRun(srv, run.id, { token: keys.requester });
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.deepEqual(done.output, { refunded: 550, charge: 'ch_123', status: 'refunded' });
  assert.deepEqual(done.steps.map((s) => s.id), ['draft', 'issue_refund', 'done']);
  assert.ok(done.steps.every((s) => s.status === 'completed'), JSON.stringify(done.steps));
  assert.equal(done.waiting, null);

  // the gate left alice's inbox.
  assert.ok(!(await inbox(srv, keys.alice)).some((x) => x.id === approvalId), 'a resolved gate leaves the pending inbox');

  // the decision and the resolution are in the audit trail.
  const rows = await srv.audit({ approval_id: approvalId });
  const types = rows.map((x) => x.type);
  assert.ok(types.includes('gate.opened'), types.join(','));
  assert.equal(types.filter((t) => t === 'decision').length, 1, types.join(','));
  assert.equal(types.filter((t) => t === 'gate.resolved').length, 1, types.join(','));
  const opened = rows.find((x) => x.type === 'gate.opened');
  assert.ok(JSON.stringify(opened.data).includes('team:finance'), `gate.opened records the assignees: ${JSON.stringify(opened.data)}`);

  // fiona is also in finance, but the gate is resolved: 409.
  const late = await decide(srv, approvalId, keys.fiona, { decision: 'approve' });
  assert.equal(late.status, 409, `a decision on a resolved gate: ${describeResponse(late)}`);
  assert.ok(errorShape(late));
  g = await gate(approvalId, keys.alice);
  assert.equal(g.decisions.length, 1, 'a refused decision is not recorded');
});

test('a refund of 120 is auto-approved and completes with no person involved', T, async () => {
  const run = await startRun(srv, 'refund', refundInput(120), { token: keys.requester });
  const done = run.status === 'completed' ? run : await waitRun(srv, run.id, { token: keys.requester });
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.deepEqual(done.output, { refunded: 120, charge: 'ch_123', status: 'refunded' });
  assert.deepEqual(done.steps.map((s) => s.id), ['draft', 'issue_refund', 'done']);
  const step = done.steps.find((s) => s.id === 'issue_refund');
  assert.equal(step.status, 'completed');
  assert.deepEqual(step.output, { refunded: 120, charge: 'ch_123', status: 'refunded' });

  const rows = await srv.audit({ run_id: run.id });
  const types = rows.map((x) => x.type);
  assert.equal(types.filter((t) => t === 'gate.auto_approved').length, 1, `audit of ${run.id}: ${types.join(',')}`);
  assert.ok(!types.includes('decision'), 'nobody decided');
  const auto = rows.find((x) => x.type === 'gate.auto_approved');
  assert.match(JSON.stringify(auto.data), /amount/, `the rule that allowed it is recorded: ${JSON.stringify(auto.data)}`);

  // nothing reached anyone's inbox for this run.
  for (const who of ['alice', 'fiona', 'bob']) {
    assert.ok(!(await inbox(srv, keys[who])).some((g) => g.run_id === run.id), `${who} got a gate of an auto-approved run`);
  }
});

test('a large refund for a non-VIP customer goes to support-leads; a reject needs a comment and then takes on_reject', T, async () => {
  const { run, approvalId } = await startWaiting(srv, 'refund', refundInput(800, 'standard'), { token: keys.requester });
  const bobs = await inbox(srv, keys.bob);
  const item = bobs.find((g) => g.id === approvalId);
  assert.ok(item, `bob's inbox lacks ${approvalId}`);
  assert.deepEqual(item.assignees, ['team:support-leads']);
  assert.equal(item.summary, 'Refund of $800 for a standard customer');
  assert.ok(!(await inbox(srv, keys.alice)).some((g) => g.id === approvalId), 'finance must not see a non-VIP refund');

  const alice = await decide(srv, approvalId, keys.alice, { decision: 'approve' });
  assert.equal(alice.status, 404, `alice is not an assignee and may not see the gate: ${describeResponse(alice)}`);

  // reject without a comment: refused (require_comment defaults to reject).
  const bare = await decide(srv, approvalId, keys.bob, { decision: 'reject' });
  assert.equal(bare.status, 422, `reject without comment (docs/api: the policy requires a comment): ${describeResponse(bare)}`);
  assert.ok(errorShape(bare));
  let g = await gate(approvalId, keys.bob);
  assert.equal(g.status, 'pending', 'the gate stays pending after a refused reject');
  assert.deepEqual(g.decisions, []);

  const rej = await decide(srv, approvalId, keys.bob, { decision: 'reject', comment: 'order was delivered' });
  assert.equal(rej.status, 200, `reject with comment: ${describeResponse(rej)}`);
  assert.equal(rej.json.status, 'rejected');
  assert.equal(rej.json.decisions[0].by, 'bob');
  assert.equal(rej.json.decisions[0].comment, 'order was delivered');

  const done = await waitRun(srv, run.id, { token: keys.requester });
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.deepEqual(done.output, { message: 'We could not refund this charge automatically; a person will contact you.' });
  const ids = done.steps.map((s) => s.id);
  assert.deepEqual(ids, ['draft', 'issue_refund', 'tell_customer', 'declined']);
  assert.notEqual(done.steps[1].status, 'completed', 'the rejected step did not run its action');
  assert.ok(!JSON.stringify(done.steps[1].output ?? null).includes('refunded'), 'no refund output on the rejected step');

  // deciding again: 409, whoever it is.
  const again = await decide(srv, approvalId, keys.bob, { decision: 'approve' });
  assert.equal(again.status, 409, `second decision on a resolved gate: ${describeResponse(again)}`);
  g = await gate(approvalId, keys.bob);
  assert.equal(g.status, 'rejected');
  assert.equal(g.decisions.length, 1);
});

test('the member who started a run may not decide its gate even as an assignee (forbid_self_approval)', T, async () => {
  const { run, approvalId } = await startWaiting(srv, 'refund', refundInput(700), { token: keys.alice });
  assert.equal(run.started_by, 'alice');
  const g0 = await gate(approvalId, keys.alice);
  assert.deepEqual(g0.assignees, ['team:finance'], 'alice is an assignee through finance');
  const self = await decide(srv, approvalId, keys.alice, { decision: 'approve' });
  assert.equal(self.status, 403, `self-approval: ${describeResponse(self)}`);
  assert.ok(errorShape(self));
  assert.equal((await gate(approvalId, keys.alice)).status, 'pending');
  // another finance member may.
  const ok = await decide(srv, approvalId, keys.fiona, { decision: 'approve' });
  assert.equal(ok.status, 200, describeResponse(ok));
  const done = await waitRun(srv, run.id, { token: keys.alice });
  assert.equal(done.status, 'completed');
  assert.equal(done.output.refunded, 700);
});

test('POST /v1/runs?wait= returns the run once it waits at the gate, not while running', T, async () => {
  const t0 = Date.now();
  const r = await srv.api('POST', '/v1/runs?wait=30', { token: keys.requester, body: { workflow: 'refund', input: refundInput(650) } });
  assert.equal(r.status, 201, describeResponse(r));
  assert.equal(r.json.status, 'waiting', `?wait returns a waiting run: ${r.text}`);
  assert.equal(r.json.waiting.type, 'approval');
  assert.ok(Date.now() - t0 < 25_000, 'it returned as soon as the run waited, not at the end of the wait');
  // tidy: approve so the run ends.
  const ok = await decide(srv, r.json.waiting.approval_id, keys.alice, { decision: 'approve' });
  assert.equal(ok.status, 200, describeResponse(ok));
});

test('GET /v1/approvals/{id}?wait= is held until another client decides, then returns the decided gate', T, async () => {
  const { run, approvalId } = await startWaiting(srv, 'refund', refundInput(900), { token: keys.requester });
  let settled = false;
  const t0 = Date.now();
  const poll = srv.api('GET', `/v1/approvals/${approvalId}?wait=30`, { token: keys.alice }).finally(() => { settled = true; });
  // parked, and checked again by the sweeper without being answered
  const probe = await srv.held(`/v1/approvals/${approvalId}`, { token: keys.alice });
  assert.equal(probe.status, 'pending', 'the probe sees the gate still pending');
  assert.equal(settled, false, 'the long-poll returned while the gate was still pending');
  const ok = await decide(srv, approvalId, keys.fiona, { decision: 'approve', comment: 'fine' });
  assert.equal(ok.status, 200, describeResponse(ok));
  const r = await poll;
  const took = Date.now() - t0;
  assert.equal(r.status, 200, describeResponse(r));
  assert.equal(r.json.status, 'approved');
  assert.equal(r.json.decisions[0].by, 'fiona');
  assert.ok(took < 25_000, `the long-poll woke on the decision (took ${took} ms of a 30 s wait)`);
  const done = await waitRun(srv, run.id, { token: keys.requester });
  assert.equal(done.status, 'completed');

  // on a gate that is already final, ?wait returns at once.
  const t1 = Date.now();
  const r2 = await srv.api('GET', `/v1/approvals/${approvalId}?wait=30`, { token: keys.alice });
  assert.equal(r2.status, 200);
  assert.ok(Date.now() - t1 < 20_000, 'a final gate is returned without waiting');
});

test('Idempotency-Key on POST /v1/runs returns the same run twice and starts it once', T, async () => {
  const key = `refund-${Date.now()}-${Math.random()}`;
  const body = { workflow: 'refund', input: refundInput(55) };
  const a = await srv.api('POST', '/v1/runs', { token: keys.requester, body, headers: { 'idempotency-key': key } });
  assert.equal(a.status, 201, describeResponse(a));
  const b = await srv.api('POST', '/v1/runs', { token: keys.requester, body, headers: { 'idempotency-key': key } });
  assert.equal(b.status, 200, `a repeated Idempotency-Key returns the run it started: ${describeResponse(b)}`);
  assert.equal(b.json.id, a.json.id, 'the same Idempotency-Key gives the same run');
  const c = await srv.api('POST', '/v1/runs', { token: keys.requester, body, headers: { 'idempotency-key': key + '-other' } });
  assert.equal(c.status, 201, describeResponse(c));
  assert.notEqual(c.json.id, a.json.id, 'another key starts another run');
  const started = (await srv.audit({ run_id: a.json.id })).filter((x) => x.type === 'run.started');
  assert.equal(started.length, 1, 'one run.started for the repeated key');
});

test('GET /v1/runs lists runs newest first and a member reads the runs they started', T, async () => {
  const r = await srv.api('GET', '/v1/runs?workflow=refund&limit=100');
  assert.equal(r.status, 200, describeResponse(r));
  assert.ok(Array.isArray(r.json.items) && r.json.items.length >= 5, r.text.slice(0, 300));
  const created = r.json.items.map((x) => x.created_at);
  assert.deepEqual([...created].sort().reverse(), created, 'newest first');
  const mine = r.json.items.find((x) => x.started_by === 'requester');
  const one = await srv.api('GET', `/v1/runs/${mine.id}`, { token: keys.requester });
  assert.equal(one.status, 200, describeResponse(one));
  assert.equal(one.json.id, mine.id);
  const missing = await srv.api('GET', '/v1/runs/run_doesnotexist');
  assert.equal(missing.status, 404, describeResponse(missing));
  assert.ok(errorShape(missing));
});
