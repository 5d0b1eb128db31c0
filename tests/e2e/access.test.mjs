// The endpoint table of docs/api/README.md, walked: every endpoint, called
// by every kind of caller, answers as its "who" column says. The table is
// read from the docs, so the docs and the server cannot drift apart.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';

import { REPO, Server, describeResponse, useServer } from './lib/server.mjs';

const T = { timeout: 120_000 };
const srv = useServer();
const callers = {};     // name -> key (null: no key at all)

// Who may call, per rule of the docs: the callers each rule lets through.
const ALLOWED = {
  'public': ['nobody', 'admin', 'admin-as-member', 'member', 'agent', 'viewer', 'viewer-agent'],
  'anyone': ['admin', 'admin-as-member', 'member', 'agent', 'viewer', 'viewer-agent'],
  'actor': ['admin', 'admin-as-member', 'member', 'agent'],
  'person': ['admin', 'admin-as-member', 'member'],
  'auditor': ['admin', 'viewer'],
  'admin': ['admin'],
  'admin, test clock': [],          // this server runs without --test-clock: 404 for all
  'demo': [],                       // nor --demo: 404 for all
};

// The rows of the "## Endpoints" table: {method, path, who}.
function endpointTable() {
  const doc = fs.readFileSync(path.join(REPO, 'docs/api/README.md'), 'utf8');
  const section = doc.split(/^## Endpoints$/m)[1].split(/^#{2,3} /m)[0];
  const rows = [];
  for (const line of section.split('\n')) {
    const m = /^\| `(GET|POST|PUT|PATCH|DELETE) ([^`]+)` \| ([^|]+) \|/.exec(line);
    if (m) rows.push({ method: m[1], path: m[2].replace(/\[.*$/, ''), who: m[3].trim() });
  }
  return rows;
}

// Ids that look right but name nothing: the handler runs and answers 404.
function concrete(p) {
  return p.replace('{id}', p.includes('/runs/') ? 'run_00000000000000000000000000'
    : p.includes('/keys/') ? 'key_00000000000000000000000000' : 'apr_00000000000000000000000000')
    .replace('{name}', 'nobody-here').replace('{token}', 'made.up');
}

before(async () => {
  callers.nobody = null;
  callers.admin = srv.token;
  callers['admin-as-member'] = (await srv.must('POST', '/v1/keys',
    { body: { user: 'admin', scope: 'member' } }, 201)).json.key;
  callers.member = await srv.userWithKey('mia');
  await srv.createUser('bot');
  callers.agent = await srv.createKey('bot', 'agent');
  await srv.createUser('vic', { role: 'viewer' });
  callers.viewer = await srv.createKey('vic', 'member');
  callers['viewer-agent'] = await srv.createKey('vic', 'agent');
}, T);

test('the endpoint table of docs/api has a row for every rule it uses, and rows at all', () => {
  const rows = endpointTable();
  assert.ok(rows.length >= 20, `found only ${rows.length} endpoint rows in docs/api/README.md`);
  const unknown = rows.filter((r) => !(r.who in ALLOWED));
  assert.deepEqual(unknown, [], 'every "who" of the table is a rule this test knows');
});

test('every endpoint x every caller answers as the docs say', T, async () => {
  const wrong = [];
  for (const row of endpointTable()) {
    for (const [caller, key] of Object.entries(callers)) {
      const r = await srv.api(row.method, concrete(row.path), { token: key, body: row.method === 'GET' || row.method === 'DELETE' ? undefined : {} });
      const allowed = ALLOWED[row.who].includes(caller);
      const code = r.json?.error?.code;
      let ok;
      if (row.who === 'admin, test clock' || row.who === 'demo') ok = r.status === 404;
      // Let through: whatever the handler says (a 404 for the made-up id, a
      // 400 for the empty body, a 403 page for a made-up link token), but
      // not a refusal of the rule itself, nor "no such endpoint".
      else if (allowed) ok = !['unauthorized', 'forbidden', 'method_not_allowed'].includes(code) &&
        !(r.status === 404 && /no such (path|endpoint)/.test(r.json?.error?.message || ''));
      else if (caller === 'nobody') ok = r.status === 401 && code === 'unauthorized';
      else ok = r.status === 403 && code === 'forbidden';
      if (!ok) wrong.push(`${row.method} ${row.path} as ${caller} (${row.who}): ${describeResponse(r)}`);
    }
  }
  assert.deepEqual(wrong, [], `answers that differ from the table:\n${wrong.join('\n')}`);
});

test('keys: wrong, revoked and expired keys are 401; revocation takes effect at once', T, async () => {
  const bad = await srv.api('GET', '/v1/runs', { token: 'spk_not-a-key-at-all' });
  assert.equal(bad.status, 401, describeResponse(bad));

  await srv.createUser('kim');
  const made = await srv.must('POST', '/v1/keys', { body: { user: 'kim' } }, 201);
  assert.equal((await srv.api('GET', '/v1/runs', { token: made.json.key })).status, 200);
  const revoked = await srv.api('DELETE', `/v1/keys/${made.json.id}`);
  assert.equal(revoked.status, 200, describeResponse(revoked));
  assert.ok(revoked.json.revoked_at);
  assert.equal(revoked.json.hash, undefined, 'a key row is shown without its hash');
  const after = await srv.api('GET', '/v1/runs', { token: made.json.key });
  assert.equal(after.status, 401, `the revoked key at once: ${describeResponse(after)}`);
  const twice = await srv.api('DELETE', `/v1/keys/${made.json.id}`);
  assert.equal(twice.status, 409, describeResponse(twice));

  const past = await srv.api('POST', '/v1/keys', { body: { user: 'kim', expires_at: '2001-01-01T00:00:00Z' } });
  assert.equal(past.status, 422, describeResponse(past));

  const listed = await srv.api('GET', '/v1/keys?user=kim');
  assert.equal(listed.status, 200, describeResponse(listed));
  assert.equal(listed.json.items.length, 1);
  assert.ok(listed.json.items.every((k) => k.hash === undefined));
  assert.ok(listed.json.items[0].revoked_at, 'a revoked key is still listed');
  assert.ok(listed.json.items[0].last_used_at, 'a used key shows last_used_at');
});

test('an expiring key works until its expires_at and is 401 from then on (test clock)', T, async () => {
  // Time is the test clock's, so the key expires when the test says and not
  // when a slow machine gets round to it; the endpoint table above needs a
  // server without --test-clock, hence a second one.
  const timed = new Server({ args: ['--test-clock'] });
  try {
    await timed.start();
    const advance = async (by) => {
      const r = await timed.api('POST', '/v1/admin/clock', { body: { advance: by } });
      assert.equal(r.status, 200, `advance ${by}: ${describeResponse(r)}`);
      assert.match(r.json.now, /^\d{4}-\d\d-\d\dT/, `advance ${by}: ${r.text}`);
      return r.json;
    };
    await timed.createUser('kim');
    const start = Date.parse((await advance('1s')).now);
    const expiresAt = new Date(start + 3600_000).toISOString();
    const key = await timed.must('POST', '/v1/keys', { body: { user: 'kim', expires_at: expiresAt } }, 201);
    assert.equal(Date.parse(key.json.expires_at), Date.parse(expiresAt), key.text);
    const use = () => timed.api('GET', '/v1/runs', { token: key.json.key });
    assert.equal((await use()).status, 200, 'a fresh key');
    await advance('59m');
    const before = await use();
    assert.equal(before.status, 200, `a minute before its expires_at: ${describeResponse(before)}`);
    await advance('2m');
    const expired = await use();
    assert.equal(expired.status, 401, `a minute after its expires_at: ${describeResponse(expired)}`);
    assert.equal(expired.json.error.code, 'unauthorized', describeResponse(expired));
    const listed = await timed.api('GET', '/v1/keys?user=kim');
    assert.equal(listed.status, 200, describeResponse(listed));
    assert.equal(listed.json.items.length, 1, 'an expired key is still listed');
    assert.ok(listed.json.items[0].last_used_at, 'a used key shows last_used_at');
    await timed.stopClean();
  } finally {
    await timed.dispose();
  }
});

test('users: disable refuses their keys at once, delete keeps their history, changes are audited', T, async () => {
  const key = await srv.userWithKey('dan', { teams: ['ops'] });
  assert.equal((await srv.api('GET', '/v1/users/dan', { token: key })).status, 200, 'a user reads themselves');
  assert.equal((await srv.api('GET', '/v1/users/admin', { token: key })).status, 404, 'but nobody else');

  let r = await srv.api('PATCH', '/v1/users/dan', { body: { disabled: true } });
  assert.equal(r.status, 200, describeResponse(r));
  assert.equal((await srv.api('GET', '/v1/runs', { token: key })).status, 401, 'disabled: refused at once');
  r = await srv.api('PATCH', '/v1/users/dan', { body: { disabled: false, teams: ['sec'], role: 'viewer' } });
  assert.equal(r.status, 200, describeResponse(r));
  assert.deepEqual(r.json.teams, ['sec']);
  assert.equal(r.json.role, 'viewer');
  assert.equal(r.json.password_hash, undefined);
  assert.equal((await srv.api('POST', '/v1/runs', { token: key, body: { workflow: 'x', input: {} } })).status, 403,
    'a viewer now');

  r = await srv.api('PATCH', '/v1/users/admin', { body: { role: 'member' } });
  assert.equal(r.status, 422, `an admin cannot demote themselves: ${describeResponse(r)}`);
  r = await srv.api('PATCH', '/v1/users/dan', { body: { role: 'boss' } });
  assert.equal(r.status, 422, describeResponse(r));
  r = await srv.api('PATCH', '/v1/users/dan', { body: {} });
  assert.equal(r.status, 400, describeResponse(r));

  r = await srv.api('DELETE', '/v1/users/dan');
  assert.equal(r.status, 200, describeResponse(r));
  assert.equal((await srv.api('GET', '/v1/runs', { token: key })).status, 401, 'deleted: refused');
  assert.equal((await srv.api('DELETE', '/v1/users/dan')).status, 404);
  const rows = await srv.audit();
  const about = (type) => rows.filter((row) => row.type === type && JSON.stringify(row.data).includes('dan'));
  assert.equal(about('user.created').length, 1, 'the history of a deleted user stays');
  assert.ok(about('user.updated').length >= 2);
  assert.equal(about('team.member_removed').length, 1);
  assert.equal(about('user.deleted').length, 1);
  assert.ok(about('key.revoked').length >= 1, 'their keys were revoked');
  const verify = await srv.api('GET', '/v1/audit/verify');
  assert.equal(verify.json.ok, true);
});

test('a gate is 404 to members who are not its assignees, and its starter may not approve it', T, async () => {
  const starter = await srv.userWithKey('sam');
  const ann = await srv.userWithKey('ann2');
  const made = await srv.api('POST', '/v1/approvals', {
    token: starter, body: { title: 'pay', proposal: { x: 1 }, to: ['user:ann2', 'user:sam'] },
  });
  assert.equal(made.status, 201, describeResponse(made));
  const id = made.json.id;
  const other = await srv.api('GET', `/v1/approvals/${id}`, { token: callers.member });
  assert.equal(other.status, 404, `a member who is not an assignee: ${describeResponse(other)}`);
  assert.equal((await srv.api('GET', `/v1/approvals/${id}`, { token: ann })).status, 200);
  const inbox = await srv.api('GET', '/v1/approvals', { token: callers.member });
  assert.ok(!inbox.json.items.some((g) => g.id === id), 'nor is it in their inbox');
  const self = await srv.api('POST', `/v1/approvals/${id}/decisions`, { token: starter, body: { decision: 'approve' } });
  assert.equal(self.status, 403, `the starter's own approval: ${describeResponse(self)}`);
  const ok = await srv.api('POST', `/v1/approvals/${id}/decisions`, { token: ann, body: { decision: 'approve' } });
  assert.equal(ok.status, 200, describeResponse(ok));
});

// A well-formed id that names nothing.
function randomId(prefix) {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let s = '';
  for (const b of crypto.randomBytes(26)) s += alphabet[b % 32];
  return `${prefix}_${s}`;
}

test('a gate or run the caller may not see answers every verb exactly as one that does not exist (ids cannot be probed)', T, async () => {
  const owner = await srv.userWithKey('olga');
  await srv.createUser('pat');
  const made = await srv.api('POST', '/v1/approvals', { token: owner, body: { title: 'secret plan', proposal: { x: 1 }, to: ['user:pat'] } });
  assert.equal(made.status, 201, describeResponse(made));
  const hidden = { apr: made.json.id, run: made.json.run_id };
  const missing = { apr: randomId('apr'), run: randomId('run') };
  // [method, path, body, the answer to the member, the answer to the agent key]:
  // 404 as for nothing there; 403 where the route itself is closed to the
  // caller (reassign: admins; links: admins; cancel: the run's starter or an
  // admin); 422 where the body is wrong whatever the id names
  const verbs = [
    ['GET', '/v1/approvals/{apr}', undefined, 404, 404],
    ['GET', '/v1/approvals/{apr}?wait=2', undefined, 404, 404],
    ['POST', '/v1/approvals/{apr}/decisions', { decision: 'approve' }, 404, 403],
    ['POST', '/v1/approvals/{apr}/decisions', { decision: 'reject', comment: 'no' }, 404, 403],
    ['POST', '/v1/approvals/{apr}/decisions', { decision: 'maybe' }, 422, 403],
    ['POST', '/v1/approvals/{apr}/reassign', { to: ['user:mia'] }, 403, 403],
    ['POST', '/v1/approvals/{apr}/links', { user: 'pat', decision: 'approve' }, 403, 403],
    ['GET', '/v1/runs/{run}', undefined, 404],
    ['GET', '/v1/runs/{run}?wait=2', undefined, 404],
    ['POST', '/v1/runs/{run}/cancel', {}, 404],
  ];
  // a member who is neither assignee nor starter, and an agent key of the assignee
  const pat = await srv.createKey('pat', 'agent');
  for (const [who, token] of [['member', callers.member], ['agent of the assignee (gates)', pat]]) {
    for (const [method, p, body, toMember, toAgent] of verbs) {
      if (who !== 'member' && p.includes('{run}')) continue;
      const call = (ids) => srv.api(method, p.replace('{apr}', ids.apr).replace('{run}', ids.run), { token, body });
      const seen = await call(hidden);
      const none = await call(missing);
      const what = `${method} ${p} as ${who}`;
      assert.equal(none.status, who === 'member' ? toMember : toAgent, `${what}, an id that names nothing: ${describeResponse(none)}`);
      assert.equal(seen.status, none.status, `${what}: ${describeResponse(seen)} vs ${describeResponse(none)}`);
      const shape = (r, ids) => r.text.replaceAll(ids.apr, '<id>').replaceAll(ids.run, '<id>');
      assert.equal(shape(seen, hidden), shape(none, missing), `${what}: the bodies differ`);
      assert.doesNotMatch(seen.text, /assignee|permission|not allowed to see/i, `${what}: ${seen.text}`);
    }
  }
  // the gate is untouched, and the assignee still decides it
  const g = await srv.api('GET', `/v1/approvals/${hidden.apr}`, { token: owner });
  assert.equal(g.json.status, 'pending');
  assert.deepEqual(g.json.decisions, []);
});

test("an agent key sees what its user asked for, not its user's inbox", T, async () => {
  const person = await srv.userWithKey('ola', { teams: ['desk'] });
  const robot = await srv.createKey('ola', 'agent');
  const other = await srv.userWithKey('pia');
  // pia asks ola (by name and through her team); ola's agent asks someone
  const forOla = await srv.api('POST', '/v1/approvals', { token: other, body: { title: 'for ola', to: ['user:ola', 'team:desk'] } });
  assert.equal(forOla.status, 201, describeResponse(forOla));
  const own = await srv.api('POST', '/v1/approvals', { token: robot, body: { title: 'from the agent', to: ['user:pia'] } });
  assert.equal(own.status, 201, describeResponse(own));

  assert.equal((await srv.api('GET', `/v1/approvals/${forOla.json.id}`, { token: person })).status, 200, 'ola herself sees it');
  assert.equal((await srv.api('GET', `/v1/approvals/${forOla.json.id}`, { token: robot })).status, 404, 'her agent does not');
  const inbox = await srv.api('GET', '/v1/approvals', { token: robot });
  assert.equal(inbox.status, 200, describeResponse(inbox));
  assert.deepEqual(inbox.json.items, [], 'an agent key has no inbox');
  assert.ok((await srv.api('GET', '/v1/approvals', { token: person })).json.items.some((g) => g.id === forOla.json.id));
  const mine = await srv.api('GET', `/v1/approvals/${own.json.id}`, { token: robot });
  assert.equal(mine.status, 200, 'what the agent asked for it reads');
  const run = await srv.api('GET', `/v1/runs/${own.json.run_id}`, { token: robot });
  assert.equal(run.status, 200, describeResponse(run));
});

test('a long-poll answers 404 when the gate was reassigned away from the caller while it waited', T, async () => {
  const bo = await srv.userWithKey('bo');
  const cara = await srv.userWithKey('cara');
  const ask = await srv.api('POST', '/v1/approvals', { body: { title: 'who decides?', to: ['user:bo'] } });
  assert.equal(ask.status, 201, describeResponse(ask));
  const id = ask.json.id;
  const waiting = srv.api('GET', `/v1/approvals/${id}?wait=30`, { token: bo, timeout: 40_000 });
  // parked before the reassignment, so the 404 comes from the wake-up and
  // not from the first read (nothing else in this file stays parked)
  await srv.parked(1);
  const re = await srv.api('POST', `/v1/approvals/${id}/reassign`, { body: { to: ['user:cara'] } });
  assert.equal(re.status, 200, describeResponse(re));
  const no = await srv.api('POST', `/v1/approvals/${id}/decisions`, { token: cara, body: { decision: 'reject', comment: 'secret reasons' } });
  assert.equal(no.status, 200, describeResponse(no));
  const r = await waiting;
  assert.equal(r.status, 404, describeResponse(r));
  assert.ok(!r.text.includes('secret reasons'), "the other approver's comment does not leak");
  assert.equal((await srv.api('GET', `/v1/approvals/${id}`, { token: bo })).status, 404, 'as a plain GET says');
});
