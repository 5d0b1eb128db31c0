// An approver's edits keep their shape (SPEC §5, §12; docs/workflows,
// "editable"): an edit keeps the JSON kind of the value it replaces, and
// where the gate gives bounds (`editable: {"/amount": {type: number,
// minimum: 0, maximum: 612}}`) it stays within them. A refused edit is a
// 422 naming the pointer and the bound, and leaves the gate pending and
// unchanged; the bounds are part of the gate the approver reads, whether
// it was opened by a workflow or asked for with POST /v1/approvals.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { describeResponse, errorShape, useServer } from './lib/server.mjs';
import { decide, startWaiting, waitRun } from './lib/world.mjs';

const T = { timeout: 180_000 };
const srv = useServer();
const keys = {};

const BOUNDED = `
name: edit-bounds
steps:
  - id: draft
    transform: '{charge: .input.charge, amount: .input.amount, note: "refund", tags: ["a"]}'
  - id: refund
    approval:
      to: [user:fin]
      require_comment: never
      editable:
        /amount: {type: number, minimum: 0, maximum: 612}
        /note: {type: string, maxLength: 40}
        /tags:
  - id: done
    transform: .steps.refund.approval.proposal
`;

const LISTED = `
name: edit-list
steps:
  - id: draft
    transform: '{amount: .input.amount, note: "refund"}'
  - id: refund
    approval: {to: [user:fin], require_comment: never, editable: [/amount, /note]}
`;

before(async () => {
  keys.fin = await srv.userWithKey('fin');
  keys.asker = await srv.userWithKey('asker');
  await srv.applyWorkflow(BOUNDED);
  await srv.applyWorkflow(LISTED);
}, T);

async function gate(id) {
  const r = await srv.api('GET', `/v1/approvals/${id}`, { token: keys.fin });
  assert.equal(r.status, 200, describeResponse(r));
  return r.json;
}

// A refused edit: 422 whose message names the pointer and what it broke,
// and the gate is still pending with the proposal as it was.
async function refused(approvalId, edits, ...says) {
  const before = await gate(approvalId);
  const r = await decide(srv, approvalId, keys.fin, { decision: 'approve', edits });
  assert.equal(r.status, 422, `${JSON.stringify(edits)}: ${describeResponse(r)}`);
  assert.ok(errorShape(r), describeResponse(r));
  for (const s of says) assert.ok(r.json.error.message.includes(s), `${JSON.stringify(edits)}: '${r.json.error.message}' lacks '${s}'`);
  const after = await gate(approvalId);
  assert.equal(after.status, 'pending');
  assert.deepEqual(after.decisions, []);
  assert.deepEqual(after.proposal, before.proposal);
  return r;
}

test('the bounds are part of the gate the approver reads', T, async () => {
  const { approvalId } = await startWaiting(srv, 'edit-bounds', { charge: 'ch_1', amount: 612 });
  const g = await gate(approvalId);
  assert.deepEqual(g.editable, {
    '/amount': { type: 'number', minimum: 0, maximum: 612 },
    '/note': { type: 'string', maxLength: 40 },
    '/tags': {},
  });
  for (const k of Object.keys(g)) assert.ok(!k.startsWith('_'), `private member ${k} in the gate`);
  const inbox = await srv.api('GET', '/v1/approvals', { token: keys.fin });
  assert.deepEqual(inbox.json.items.find((x) => x.id === approvalId)?.editable, g.editable, 'the inbox shows them too');
});

test('a negative amount under minimum 0, one over maximum 612, an object or a string for a number: 422 naming the pointer and the bound', T, async () => {
  const { approvalId } = await startWaiting(srv, 'edit-bounds', { charge: 'ch_2', amount: 612 });
  const neg = await refused(approvalId, { '/amount': -5 }, '/amount', 'must be at least 0', 'minimum');
  assert.equal(neg.json.error.details?.[0]?.keyword, 'minimum', describeResponse(neg));
  assert.equal(neg.json.error.details?.[0]?.path, '/amount');
  await refused(approvalId, { '/amount': 613 }, '/amount', 'must be at most 612', 'maximum');
  await refused(approvalId, { '/amount': { value: 550 } }, '/amount', 'must stay a number', 'got an object');
  await refused(approvalId, { '/amount': '550' }, '/amount', 'must stay a number', 'got a string');
  await refused(approvalId, { '/tags': 'a,b' }, '/tags', 'must stay an array');
  await refused(approvalId, { '/note': 'x'.repeat(41) }, '/note', 'maxLength');
  // one bad edit among good ones refuses them all
  await refused(approvalId, { '/amount': 500, '/note': false }, '/note', 'must stay a string');
});

test('an edit within the bounds is accepted, recorded, and the run goes on with it', T, async () => {
  const { run, approvalId } = await startWaiting(srv, 'edit-bounds', { charge: 'ch_3', amount: 612 });
  const r = await decide(srv, approvalId, keys.fin, { decision: 'approve', edits: { '/amount': 550.5, '/note': 'capped', '/tags': ['a', 'b'] } });
  assert.equal(r.status, 200, describeResponse(r));
  assert.equal(r.json.status, 'approved');
  assert.deepEqual(r.json.decisions[0].edits['/amount'], { from: 612, to: 550.5 });
  const done = await waitRun(srv, run.id);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.deepEqual(done.output, { charge: 'ch_3', amount: 550.5, note: 'capped', tags: ['a', 'b'] });
  // the bounds' edges are inside
  const edge = await startWaiting(srv, 'edit-bounds', { charge: 'ch_4', amount: 100 });
  const z = await decide(srv, edge.approvalId, keys.fin, { decision: 'approve', edits: { '/amount': 0 } });
  assert.equal(z.status, 200, describeResponse(z));
});

test('with the plain list form a change of type is refused too; a same-typed edit is not', T, async () => {
  const { approvalId } = await startWaiting(srv, 'edit-list', { amount: 612 });
  assert.deepEqual((await gate(approvalId)).editable, { '/amount': {}, '/note': {} });
  await refused(approvalId, { '/amount': { value: 1 } }, '/amount', 'must stay a number');
  await refused(approvalId, { '/note': 42 }, '/note', 'must stay a string', 'got a number');
  const ok = await decide(srv, approvalId, keys.fin, { decision: 'approve', edits: { '/amount': -1 } });
  assert.equal(ok.status, 200, `no bounds: any number: ${describeResponse(ok)}`);
});

test('POST /v1/approvals takes editable as a list or a map of bounds, checks the bounds, shows them and enforces them', T, async () => {
  const ask = (editable) => srv.api('POST', '/v1/approvals', {
    token: keys.asker,
    body: { title: 'refund?', to: ['user:fin'], proposal: { amount: 300, note: 'n' }, editable, policy: { require_comment: 'never' } },
  });
  const bad = await ask({ '/amount': { minimum: 'zero' } });
  assert.equal(bad.status, 422, describeResponse(bad));
  assert.match(bad.json.error.message, /editable\["\/amount"\]\.minimum: expected a number/);
  const notPointer = await ask(['amount']);
  assert.equal(notPointer.status, 422, describeResponse(notPointer));
  assert.match(notPointer.json.error.message, /not a JSON pointer/);
  const wrongShape = await ask('/amount');
  assert.equal(wrongShape.status, 422, describeResponse(wrongShape));

  const listed = await ask(['/note']);
  assert.equal(listed.status, 201, describeResponse(listed));
  assert.deepEqual(listed.json.editable, { '/note': {} });
  const plain = await srv.api('POST', '/v1/approvals', { token: keys.asker, body: { title: 'no edits', to: ['user:fin'] } });
  assert.deepEqual(plain.json.editable, {}, 'nothing editable unless asked');

  const made = await ask({ '/amount': { type: 'integer', minimum: 1, maximum: 300 } });
  assert.equal(made.status, 201, describeResponse(made));
  const g = await gate(made.json.id);
  assert.deepEqual(g.editable, { '/amount': { type: 'integer', minimum: 1, maximum: 300 } });
  await refused(made.json.id, { '/amount': 0 }, '/amount', 'must be at least 1', 'minimum');
  await refused(made.json.id, { '/amount': 2.5 }, '/amount', 'expected integer', 'type');
  await refused(made.json.id, { '/note': 'other' }, '/note', 'not an editable field');
  const ok = await decide(srv, made.json.id, keys.fin, { decision: 'approve', edits: { '/amount': 250 } });
  assert.equal(ok.status, 200, describeResponse(ok));
  assert.equal(ok.json.proposal.amount, 250);
});
