// The steps after a gate read its decision (SPEC §12; docs/workflows,
// "Expressions and templates"): `.steps.<id>.approval` is
// {id, status, proposal, decisions: [{by, decision, comment, edits, via, at}]},
// so a workflow can put the approver's name and comment into what it does
// next - here a transform whose output is the run's output.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { describeResponse, useServer } from './lib/server.mjs';
import { decide, startRun, startWaiting, waitRun } from './lib/world.mjs';

const T = { timeout: 180_000 };
const srv = useServer();
const keys = {};

const WORKFLOW = `
name: decision-reader
steps:
  - id: draft
    transform: '{amount: .input.amount}'
  - id: review
    approval:
      when: .steps.draft.output.amount > 500
      to: [user:fin]
      require_comment: always
      editable: [/amount]
  - id: after
    transform: >-
      {approver: .steps.review.approval.decisions[0].by,
       comment: .steps.review.approval.decisions[0].comment,
       decisions: (.steps.review.approval.decisions | length),
       approval: .steps.review.approval}
`;

before(async () => {
  keys.fin = await srv.userWithKey('fin');
  keys.asker = await srv.userWithKey('asker');
  await srv.applyWorkflow(WORKFLOW);
}, T);

test('the step after a gate reads who approved and their comment', T, async () => {
  const { run, approvalId } = await startWaiting(srv, 'decision-reader', { amount: 612 }, { token: keys.asker });
  const r = await decide(srv, approvalId, keys.fin, {
    decision: 'approve', comment: 'ok, half now', edits: { '/amount': 306 },
  });
  assert.equal(r.status, 200, describeResponse(r));
  const done = await waitRun(srv, run.id, { token: keys.asker });
  assert.equal(done.status, 'completed', JSON.stringify(done));
  const out = done.output;
  assert.equal(out.approver, 'fin');
  assert.equal(out.comment, 'ok, half now');
  assert.equal(out.decisions, 1);
  const a = out.approval;
  assert.equal(a.id, approvalId);
  assert.equal(a.status, 'approved');
  assert.deepEqual(a.proposal, { amount: 306 }, 'the proposal as approved, with the edit');
  assert.equal(a.decisions.length, 1);
  const d = a.decisions[0];
  assert.equal(d.by, 'fin');
  assert.equal(d.decision, 'approve');
  assert.equal(d.comment, 'ok, half now');
  assert.deepEqual(d.edits, { '/amount': { from: 612, to: 306 } });
  assert.equal(d.via, 'api');
  assert.match(d.at, /^\d{4}-\d\d-\d\dT/);
});

test('an auto-approved gate reads with no decisions', T, async () => {
  const run = await startRun(srv, 'decision-reader', { amount: 20 }, { token: keys.asker });
  const done = run.status === 'completed' ? run : await waitRun(srv, run.id, { token: keys.asker });
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.equal(done.output.approver, null);
  assert.equal(done.output.decisions, 0);
  assert.equal(done.output.approval.status, 'approved');
  assert.deepEqual(done.output.approval.decisions, []);
  assert.deepEqual(done.output.approval.proposal, { amount: 20 });
});
