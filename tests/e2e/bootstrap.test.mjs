// The first admin (SPEC §6): made once, on the first start of an empty
// store - with SPOJIT_BOOTSTRAP_TOKEN as its key, or a new key printed once -
// and never again: deleting the "admin" user does not bring it back at the
// next start. A bootstrap token too short to be a key is refused.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { Server, describeResponse } from './lib/server.mjs';

const T = { timeout: 120_000 };
const servers = [];
function server(opts) {
  const s = new Server(opts);
  servers.push(s);
  return s;
}
after(async () => { for (const s of servers) await s.dispose(); });

test('a deleted admin user stays deleted across restarts: no new admin, no new key, one admin.bootstrap row', T, async () => {
  const s = server();
  await s.start();
  const key2 = await s.userWithKey('root2', { role: 'admin' });
  const del = await s.api('DELETE', '/v1/users/admin', { token: key2 });
  assert.equal(del.status, 200, describeResponse(del));
  assert.equal((await s.api('GET', '/v1/users')).status, 401, 'the bootstrap key went with its user');
  await s.restart();
  assert.doesNotMatch(s.stderr, /admin API key|created the admin user/);
  const users = await s.api('GET', '/v1/users', { token: key2 });
  assert.equal(users.status, 200, describeResponse(users));
  assert.deepEqual(users.json.items.map((u) => u.name), ['root2']);
  assert.equal((await s.api('GET', '/v1/users')).status, 401, 'the old token is still no key');
  const rows = (await s.audit({}, key2)).filter((r) => r.type === 'admin.bootstrap');
  assert.equal(rows.length, 1);
  await s.stopClean();
});

test('without a token the first start prints a new admin key once; later starts print none', T, async () => {
  const s = server({ env: { SPOJIT_BOOTSTRAP_TOKEN: '' } });
  await s.start();
  const m = /admin API key \(shown once, keep it\): (\S+)/.exec(s.stderr);
  assert.ok(m, s.tail());
  const r = await s.api('GET', '/v1/users', { token: m[1] });
  assert.equal(r.status, 200, describeResponse(r));
  await s.restart();
  assert.doesNotMatch(s.stderr, /admin API key/);
  assert.equal((await s.audit({}, m[1])).filter((r) => r.type === 'admin.bootstrap').length, 1);
  await s.stopClean();
});

test('a bootstrap token shorter than 32 characters stops the first start, saying why', T, async () => {
  const s = server({ env: { SPOJIT_BOOTSTRAP_TOKEN: 'admin123' } });
  await assert.rejects(s.start(), (e) => {
    assert.match(e.message, /SPOJIT_BOOTSTRAP_TOKEN is 8 characters long; the first admin key needs at least 32/);
    return true;
  });
});
