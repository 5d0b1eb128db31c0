// No gate waits for nobody: applying a workflow that routes to a user or
// team that does not exist warns (API and CLI), and a gate whose assignees
// are fewer people able to decide than it needs goes to the admins, with a
// gate.unroutable audit row - when it opens and when it escalates.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, after, test } from 'node:test';

import { cli, describeResponse, rmrf, tmpdir, useServer } from './lib/server.mjs';
import { decide, startWaiting, waitRun } from './lib/world.mjs';

const T = { timeout: 120_000 };
const srv = useServer({ args: ['--test-clock'] });   // escalations fire on demand
const keys = {};
const dir = tmpdir('spojit-routing-');

const NOBODY = `
name: to-nobody
steps:
  - id: gate
    approval:
      route:
        - {when: '.input.big == true', to: [team:ghosts]}
        - {to: [user:nobody, user:ann, user:nobody]}
      escalate:
        - {after: 1h, to: user:nobody}
`;

const SELF = `
name: self-only
steps:
  - id: prep
    transform: '{n: .input.n}'
  - id: gate
    approval:
      to: [user:ann]
      require_comment: never
  - id: after
    transform: '{done: .input.n}'
`;

const TWO = `
name: two-needed
steps:
  - id: gate
    approval:
      to: [user:ann, user:nobody, team:ghosts]
      policy: {approvals: 2}
      require_comment: never
  - id: after
    transform: '{done: true}'
`;

const ESCALATE = `
name: escalate-to-dave
steps:
  - id: gate
    approval:
      to: [user:ann]
      escalate:
        - {after: 1h, to: [user:dave], mode: replace}
`;

before(async () => {
  keys.dave = await srv.userWithKey('dave');
  keys.ann = await srv.userWithKey('ann');
  keys.bob = await srv.userWithKey('bob');
  keys.boss = await srv.userWithKey('boss', { role: 'admin' });
}, T);

after(() => rmrf(dir));

test('applying a workflow routed to user:nobody answers with a warning naming each such assignee; re-applying warns again', T, async () => {
  const r = await srv.api('POST', '/v1/workflows', { body: NOBODY, contentType: 'application/yaml' });
  assert.equal(r.status, 201, describeResponse(r));
  const paths = r.json.warnings.map((w) => w.path);
  assert.deepEqual(paths, [
    'steps[0].approval.route[0].to[0]',
    'steps[0].approval.route[1].to[0]',
    'steps[0].approval.route[1].to[2]',
    'steps[0].approval.escalate[0].to',
  ]);
  assert.match(r.json.warnings[0].message, /no team ghosts/);
  assert.match(r.json.warnings[1].message, /no user nobody/);

  const again = await srv.api('POST', '/v1/workflows', { body: NOBODY, contentType: 'application/yaml' });
  assert.equal(again.status, 200, describeResponse(again));
  assert.equal(again.json.created, false);
  assert.equal(again.json.warnings.length, 4);

  const fine = await srv.api('POST', '/v1/workflows', { body: SELF, contentType: 'application/yaml' });
  assert.equal(fine.status, 201, `a new workflow: ${describeResponse(fine)}`);
  assert.equal(fine.json.created, true);
  assert.deepEqual(fine.json.warnings, [], 'existing assignees give no warning');
});

test('spojit workflow apply prints each warning on stderr and exits 0', T, async () => {
  const file = path.join(dir, 'nobody.yaml');
  fs.writeFileSync(file, NOBODY.replace('name: to-nobody', 'name: to-nobody-cli'));
  const r = await cli(['workflow', 'apply', file], { url: srv.url, token: srv.token });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /applied to-nobody-cli version 1/);
  assert.match(r.stderr, /nobody\.yaml: steps\[0\]\.approval\.route\[1\]\.to\[0\]: warning: no user nobody/);
  assert.match(r.stderr, /steps\[0\]\.approval\.route\[0\]\.to\[0\]: warning: no team ghosts/);
  assert.equal(r.stderr.trim().split('\n').length, 4, r.stderr);
});

test('a gate whose only assignee started the run goes to the admins, with a gate.unroutable audit row, and an admin decides it', T, async () => {
  await srv.applyWorkflow(SELF);
  const { run, approvalId } = await startWaiting(srv, 'self-only', { n: 1 }, { token: keys.ann });

  const g = await srv.must('GET', `/v1/approvals/${approvalId}`);
  assert.ok(g.json.assignees.includes('user:admin'), JSON.stringify(g.json.assignees));
  assert.ok(g.json.assignees.includes('user:boss'), JSON.stringify(g.json.assignees));
  assert.ok(!g.json.assignees.includes('user:ann'), JSON.stringify(g.json.assignees));

  const rows = await srv.audit({ approval_id: approvalId });
  const un = rows.find((x) => x.type === 'gate.unroutable');
  assert.ok(un, `a gate.unroutable row: ${JSON.stringify(rows.map((x) => x.type))}`);
  assert.deepEqual(un.data.original_assignees, ['user:ann']);
  assert.equal(un.data.step, 'gate');
  assert.match(un.data.reasons.join('; '), /user:ann started the run.*forbid_self_approval/);
  assert.deepEqual(un.data.assignees, g.json.assignees);

  // no longer ann's (she sees it as her run's gate); bob is told nothing
  const self = await decide(srv, approvalId, keys.ann, { decision: 'approve' });
  assert.equal(self.status, 403, describeResponse(self));
  assert.match(self.json.error.message, /ann is not an assignee/);
  const other = await decide(srv, approvalId, keys.bob, { decision: 'approve' });
  assert.equal(other.status, 404, describeResponse(other));
  const ok = await decide(srv, approvalId, keys.boss, { decision: 'approve' });
  assert.equal(ok.status, 200, describeResponse(ok));
  const done = await waitRun(srv, run.id);
  assert.equal(done.status, 'completed', JSON.stringify(done));
});

test('a gate whose assignee can decide is routed as written, with no gate.unroutable row', T, async () => {
  const { approvalId } = await startWaiting(srv, 'self-only', { n: 2 }, { token: keys.bob });
  const g = await srv.must('GET', `/v1/approvals/${approvalId}`);
  assert.deepEqual(g.json.assignees, ['user:ann']);
  const rows = await srv.audit({ approval_id: approvalId });
  assert.ok(rows.some((x) => x.type === 'gate.opened'));
  assert.ok(!rows.some((x) => x.type === 'gate.unroutable'), JSON.stringify(rows.map((x) => x.type)));
});

test('a gate routed only to a team that does not exist goes to the admins; one with somebody able to decide does not', T, async () => {
  // user:ann can decide, so user:nobody beside her changes nothing
  const { approvalId } = await startWaiting(srv, 'to-nobody', { big: false }, { token: keys.bob });
  const g = await srv.must('GET', `/v1/approvals/${approvalId}`);
  assert.deepEqual(g.json.assignees, ['user:nobody', 'user:ann', 'user:nobody']);
  const big = await startWaiting(srv, 'to-nobody', { big: true }, { token: keys.bob });
  const gb = await srv.must('GET', `/v1/approvals/${big.approvalId}`);
  assert.deepEqual(gb.json.assignees.sort(), ['user:admin', 'user:boss']);
  const rows = await srv.audit({ approval_id: big.approvalId });
  const un = rows.find((x) => x.type === 'gate.unroutable');
  assert.ok(un, JSON.stringify(rows.map((x) => x.type)));
  assert.match(un.data.reasons[0], /team:ghosts does not exist/);
});

test('an approvals: 2 gate whose route has one person able to decide goes to the admins, the gate.unroutable row says why, and two admins decide it', T, async () => {
  await srv.applyWorkflow(TWO);
  const { run, approvalId } = await startWaiting(srv, 'two-needed', {}, { token: keys.bob });
  const g = await srv.must('GET', `/v1/approvals/${approvalId}`);
  assert.deepEqual(g.json.assignees.slice().sort(), ['user:admin', 'user:boss']);

  const rows = await srv.audit({ approval_id: approvalId });
  const types = rows.map((x) => x.type);
  const un = rows.find((x) => x.type === 'gate.unroutable');
  assert.ok(un, JSON.stringify(types));
  assert.ok(types.indexOf('gate.unroutable') < types.indexOf('gate.opened'), JSON.stringify(types));
  assert.deepEqual(un.data.original_assignees, ['user:ann', 'user:nobody', 'team:ghosts']);
  assert.equal(un.data.reason, 'fewer people can decide than the policy needs');
  assert.ok(un.data.reasons.includes('approvals: 2 needs 2 people but only 1 (user:ann) may decide'),
    JSON.stringify(un.data.reasons));
  assert.ok(un.data.reasons.includes('user:nobody does not exist'), JSON.stringify(un.data.reasons));
  assert.ok(un.data.reasons.includes('team:ghosts does not exist'), JSON.stringify(un.data.reasons));
  assert.deepEqual(un.data.able, ['user:ann']);
  assert.equal(un.data.needed, 2);
  assert.equal(un.data.short, false);
  assert.deepEqual(un.data.assignees, g.json.assignees);

  // ann alone could never have met it; it is no longer hers
  const annTries = await decide(srv, approvalId, keys.ann, { decision: 'approve' });
  assert.equal(annTries.status, 404, describeResponse(annTries));
  const first = await decide(srv, approvalId, keys.boss, { decision: 'approve' });
  assert.equal(first.status, 200, describeResponse(first));
  assert.equal(first.json.status, 'pending', 'one approval of two');
  const second = await decide(srv, approvalId, srv.token, { decision: 'approve' });
  assert.equal(second.status, 200, describeResponse(second));
  assert.equal(second.json.status, 'approved');
  const done = await waitRun(srv, run.id);
  assert.equal(done.status, 'completed', JSON.stringify(done));
});

test('an approvals: 2 gate with two people able is routed as written', T, async () => {
  const wf = TWO.replace('name: two-needed', 'name: two-able').replace('user:nobody', 'user:bob');
  await srv.applyWorkflow(wf);
  const { approvalId } = await startWaiting(srv, 'two-able', {}, { token: keys.boss });
  const g = await srv.must('GET', `/v1/approvals/${approvalId}`);
  assert.deepEqual(g.json.assignees, ['user:ann', 'user:bob', 'team:ghosts']);
  const rows = await srv.audit({ approval_id: approvalId });
  assert.ok(!rows.some((x) => x.type === 'gate.unroutable'), JSON.stringify(rows.map((x) => x.type)));
});

test('an escalation to a user disabled since the gate opened goes to the admins when it fires, with a gate.unroutable row before gate.escalated', T, async () => {
  const applied = await srv.api('POST', '/v1/workflows', { body: ESCALATE, contentType: 'application/yaml' });
  assert.ok([200, 201].includes(applied.status), describeResponse(applied));
  assert.deepEqual(applied.json.warnings, [], 'dave exists when the workflow is applied');
  const { approvalId } = await startWaiting(srv, 'escalate-to-dave', {}, { token: keys.bob });
  const off = await srv.api('PATCH', '/v1/users/dave', { body: { disabled: true } });
  assert.equal(off.status, 200, describeResponse(off));

  const now = await srv.api('POST', '/v1/admin/clock', { body: { advance: '2h' } });
  assert.equal(now.status, 200, describeResponse(now));
  const g = await srv.must('GET', `/v1/approvals/${approvalId}`);
  assert.equal(g.json.escalation_level, 1);
  assert.deepEqual(g.json.assignees.slice().sort(), ['user:admin', 'user:boss']);

  const rows = await srv.audit({ approval_id: approvalId });
  const types = rows.map((x) => x.type);
  const un = rows.find((x) => x.type === 'gate.unroutable');
  assert.ok(un, JSON.stringify(types));
  assert.ok(types.indexOf('gate.unroutable') < types.indexOf('gate.escalated'), JSON.stringify(types));
  assert.equal(un.data.escalation_level, 1);
  assert.deepEqual(un.data.original_assignees, ['user:dave']);
  assert.deepEqual(un.data.reasons, ['user:dave is disabled']);
  const escalated = rows.find((x) => x.type === 'gate.escalated');
  assert.deepEqual(escalated.data.assignees, g.json.assignees);
});
