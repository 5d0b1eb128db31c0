// Web sessions (issue 5, acceptance item 2): login by name and password sets
// an HttpOnly, SameSite=Strict cookie that authenticates reads; changes made
// with the cookie need the CSRF token; logout revokes the session at once;
// repeated failed logins are answered 429; login.ok, login.failed and logout
// are audit rows. Also: idle and absolute expiry (test clock), and the
// shapes of bad input.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { Server, describeResponse, errorShape, useServer } from './lib/server.mjs';

const T = { timeout: 240_000 };
// The test clock moves session expiry and the rate-limit window.
// The burst of 150 logins stands for 150 clients, but all come from
// 127.0.0.1: allow this one address more than the default 64 connections.
const srv = useServer({ args: ['--test-clock', '--max-connections-per-ip', '1024'] });

const PASSWORD = 'correct horse battery staple';

before(async () => {
  await srv.createUser('sam', { password: PASSWORD });
  await srv.createUser('vera', { password: PASSWORD, role: 'viewer' });
  await srv.createUser('ida', { password: PASSWORD });
  await srv.createUser('rita', { password: PASSWORD });
  await srv.createUser('exp', { password: PASSWORD });
}, T);

function cookieOf(r) {
  const all = typeof r.headers.getSetCookie === 'function' ? r.headers.getSetCookie() : [r.headers.get('set-cookie')];
  const c = all.find((s) => s && s.startsWith('spojit_session='));
  assert.ok(c, `no spojit_session cookie in ${JSON.stringify(all)}`);
  return c;
}

async function login(name, password = PASSWORD) {
  return srv.api('POST', '/v1/session', { token: null, body: { name, password } });
}

// Logs in and returns {cookie: "spojit_session=...", csrf, setCookie, json}.
async function session(name) {
  const r = await login(name);
  assert.equal(r.status, 200, describeResponse(r));
  const setCookie = cookieOf(r);
  return { cookie: setCookie.split(';')[0], csrf: r.json.csrf_token, setCookie, json: r.json };
}

function withCookie(s, extra = {}) {
  return { token: null, headers: { cookie: s.cookie, ...extra } };
}

async function advance(by) {
  const r = await srv.api('POST', '/v1/admin/clock', { body: { advance: by } });
  assert.equal(r.status, 200, describeResponse(r));
}

const approval = { title: 'ship it?', to: ['user:sam'] };

test('login answers {user, role, csrf_token, expires_at} and sets an HttpOnly, SameSite=Strict cookie', T, async () => {
  const s = await session('sam');
  assert.equal(s.json.user, 'sam');
  assert.equal(s.json.role, 'member');
  assert.match(s.json.csrf_token, /^csrf_[A-Za-z0-9_-]{43}$/);
  assert.ok(!Number.isNaN(Date.parse(s.json.expires_at)), s.json.expires_at);
  assert.equal(s.json.session, undefined, 'the session id is not part of the reply');
  const attrs = s.setCookie.split(';').map((a) => a.trim().toLowerCase());
  assert.match(s.cookie, /^spojit_session=sps_[A-Za-z0-9_-]{43}$/);
  assert.ok(attrs.includes('httponly'), s.setCookie);
  assert.ok(attrs.includes('samesite=strict'), s.setCookie);
  assert.ok(attrs.includes('path=/'), s.setCookie);
  assert.ok(!attrs.includes('secure'), 'no Secure over plain HTTP');
});

test('the cookie authenticates GET /v1/runs, with the user\'s role', T, async () => {
  const s = await session('sam');
  const r = await srv.api('GET', '/v1/runs', withCookie(s));
  assert.equal(r.status, 200, describeResponse(r));
  assert.ok(Array.isArray(r.json.items));
  // a member's session is not an admin's
  const admin = await srv.api('GET', '/v1/audit', withCookie(s));
  assert.equal(admin.status, 403, describeResponse(admin));
  // a viewer's session reads the audit but may not act
  const v = await session('vera');
  assert.equal((await srv.api('GET', '/v1/audit/verify', withCookie(v))).status, 200);
  const act = await srv.api('POST', '/v1/approvals', { ...withCookie(v, { 'x-csrf-token': v.csrf }), body: approval });
  assert.equal(act.status, 403, describeResponse(act));
});

test('a wrong password and an unknown name get the same 401', T, async () => {
  const wrong = await login('sam', 'not the password');
  const unknown = await login('nobody-here', 'whatever');
  assert.equal(wrong.status, 401, describeResponse(wrong));
  assert.equal(unknown.status, 401, describeResponse(unknown));
  assert.ok(errorShape(wrong));
  assert.equal(wrong.json.error.message, unknown.json.error.message);
  assert.equal(wrong.headers.get('set-cookie'), null);
});

test('a change made with the cookie needs X-CSRF-Token: 403 without, or with a wrong one; it works with it', T, async () => {
  const s = await session('sam');
  const none = await srv.api('POST', '/v1/approvals', { ...withCookie(s), body: approval });
  assert.equal(none.status, 403, describeResponse(none));
  assert.match(none.json.error.message, /X-CSRF-Token/);
  const other = await session('ida');
  const wrong = await srv.api('POST', '/v1/approvals', { ...withCookie(s, { 'x-csrf-token': other.csrf }), body: approval });
  assert.equal(wrong.status, 403, describeResponse(wrong));
  const ok = await srv.api('POST', '/v1/approvals', { ...withCookie(s, { 'x-csrf-token': s.csrf }), body: approval });
  assert.equal(ok.status, 201, describeResponse(ok));
  // a bearer key needs no CSRF token, cookie or not
  const key = await srv.createKey('sam');
  const bearer = await srv.api('POST', '/v1/approvals', { token: key, headers: { cookie: s.cookie }, body: approval });
  assert.equal(bearer.status, 201, describeResponse(bearer));
});

test('logout revokes the session at once and clears the cookie', T, async () => {
  const s = await session('sam');
  assert.equal((await srv.api('GET', '/v1/runs', withCookie(s))).status, 200);
  const noCsrf = await srv.api('DELETE', '/v1/session', withCookie(s));
  assert.equal(noCsrf.status, 403, describeResponse(noCsrf));
  const out = await srv.api('DELETE', '/v1/session', withCookie(s, { 'x-csrf-token': s.csrf }));
  assert.equal(out.status, 204, describeResponse(out));
  const cleared = cookieOf(out);
  assert.match(cleared, /^spojit_session=;/);
  assert.match(cleared, /Max-Age=0/i);
  const after = await srv.api('GET', '/v1/runs', withCookie(s));
  assert.equal(after.status, 401, describeResponse(after));
  assert.ok(errorShape(after));
  // with an API key there is no session to end
  const byKey = await srv.api('DELETE', '/v1/session');
  assert.equal(byKey.status, 400, describeResponse(byKey));
});

test('unknown, malformed and forged cookies are 401', T, async () => {
  for (const cookie of ['spojit_session=sps_forged', 'spojit_session=', 'spojit_session="a b"', `spojit_session=${'x'.repeat(500)}`]) {
    const r = await srv.api('GET', '/v1/runs', { token: null, headers: { cookie } });
    assert.equal(r.status, 401, `${cookie.slice(0, 40)}: ${describeResponse(r)}`);
  }
  // another cookie alone is no session: the bearer rule applies
  const r = await srv.api('GET', '/v1/runs', { token: null, headers: { cookie: 'theme=dark' } });
  assert.equal(r.status, 401);
});

test('bad login bodies are 400 or 422, never a crash', T, async () => {
  const cases = [
    [undefined, 400], ['not json', 400], [{}, 400], [{ name: 'sam' }, 400], [{ password: 'x' }, 400],
    [{ name: 'sam', password: '' }, 400], [{ name: 'sam', password: 7 }, 400],
    [{ name: 'sam', password: 'x', extra: 1 }, 400], [{ name: 'x'.repeat(65), password: 'x' }, 400],
    [{ name: 'sam', password: 'p'.repeat(1025) }, 400], [{ name: 'bad name!', password: 'x' }, 422],
  ];
  for (const [body, status] of cases) {
    const r = await srv.api('POST', '/v1/session', { token: null, body });
    assert.equal(r.status, status, `${JSON.stringify(body)?.slice(0, 60)}: ${describeResponse(r)}`);
    assert.ok(errorShape(r));
  }
});

test('a session ends after 8 hours idle, and 7 days after login however busy', T, async () => {
  const idle = await session('exp');
  await advance('7h');
  assert.equal((await srv.api('GET', '/v1/runs', withCookie(idle))).status, 200, 'used within 8 h');
  await advance('7h');
  assert.equal((await srv.api('GET', '/v1/runs', withCookie(idle))).status, 200, 'last use 7 h ago');
  await advance('8h1m');
  assert.equal((await srv.api('GET', '/v1/runs', withCookie(idle))).status, 401, 'idle for 8 h');

  const busy = await session('exp');
  for (let day = 0; day < 7; day++) {
    assert.equal((await srv.api('GET', '/v1/runs', withCookie(busy))).status, 200, `day ${day}`);
    for (let h = 0; h < 4; h++) {
      await advance('6h');
      assert.equal((await srv.api('GET', '/v1/runs', withCookie(busy))).status, day === 6 && h === 3 ? 401 : 200, `day ${day} +${(h + 1) * 6}h`);
    }
  }
});

test('a new password, disabling or deleting a user signs them out everywhere; a deleted name stays retired', T, async () => {
  await srv.createUser('pat', { password: PASSWORD });
  const s1 = await session('pat');
  const s2 = await session('pat');
  for (const s of [s1, s2]) assert.equal((await srv.api('GET', '/v1/runs', withCookie(s))).status, 200);
  const NEW = 'a brand new passphrase';
  const pw = await srv.api('PATCH', '/v1/users/pat', { body: { password: NEW } });
  assert.equal(pw.status, 200, describeResponse(pw));
  for (const s of [s1, s2]) assert.equal((await srv.api('GET', '/v1/runs', withCookie(s))).status, 401, 'signed out by the new password');
  assert.equal((await login('pat')).status, 401, 'the old password is gone');

  const s3r = await login('pat', NEW);
  assert.equal(s3r.status, 200, describeResponse(s3r));
  const s3 = { cookie: cookieOf(s3r).split(';')[0] };
  assert.equal((await srv.api('GET', '/v1/runs', withCookie(s3))).status, 200);
  // a role change is no reason to sign out
  assert.equal((await srv.api('PATCH', '/v1/users/pat', { body: { role: 'viewer' } })).status, 200);
  assert.equal((await srv.api('GET', '/v1/runs', withCookie(s3))).status, 200, 'a role change keeps the session');
  assert.equal((await srv.api('PATCH', '/v1/users/pat', { body: { disabled: true } })).status, 200);
  assert.equal((await srv.api('PATCH', '/v1/users/pat', { body: { disabled: false } })).status, 200);
  assert.equal((await srv.api('GET', '/v1/runs', withCookie(s3))).status, 401, 'enabling again does not bring the session back');

  const s4r = await login('pat', NEW);
  assert.equal(s4r.status, 200, describeResponse(s4r));
  const s4 = { cookie: cookieOf(s4r).split(';')[0] };
  assert.equal((await srv.api('DELETE', '/v1/users/pat')).status, 200);
  assert.equal((await srv.api('GET', '/v1/runs', withCookie(s4))).status, 401, 'deleted: signed out');
  const again = await srv.api('POST', '/v1/users', { body: { name: 'pat', password: NEW } });
  assert.equal(again.status, 409, describeResponse(again));
  assert.match(again.json.error.message, /belonged to a deleted user and stays retired/);

  const rows = await srv.audit();
  const updates = rows.filter((r) => r.type === 'user.updated' && r.data?.name === 'pat');
  assert.deepEqual(updates.map((r) => r.data.changes.sessions_revoked ?? 0), [2, 0, 1, 0], JSON.stringify(updates.map((r) => r.data)));
  const deleted = rows.filter((r) => r.type === 'user.deleted' && r.data?.name === 'pat');
  assert.deepEqual(deleted.map((r) => r.data.sessions_revoked), [1]);
});

test('a burst of 150 logins at once: each is answered 200, 503 with Retry-After (password hashing is bounded) or 429 (attempts in flight count against the limit), other requests keep being served', T, async () => {
  await srv.createUser('burst', { password: PASSWORD });
  const logins = Array.from({ length: 150 }, () => login('burst'));
  const health = await srv.api('GET', '/v1/runs?limit=1');   // served while the logins queue
  const answers = await Promise.all(logins);
  assert.equal(health.status, 200, describeResponse(health));
  const counts = {};
  for (const r of answers) {
    counts[r.status] = (counts[r.status] || 0) + 1;
    if (r.status === 503) {
      assert.equal(r.headers.get('retry-after'), '1');
      assert.match(r.json.error.message, /too many logins at once/);
    } else if (r.status === 429) {
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    } else {
      assert.equal(r.status, 200, describeResponse(r));
    }
  }
  assert.ok(counts[200] >= 1, JSON.stringify(counts));
  const ok = answers.filter((r) => r.status === 200);
  for (const r of [ok[0], ok.at(-1)]) {
    const s = { cookie: cookieOf(r).split(';')[0] };
    assert.equal((await srv.api('GET', '/v1/runs', withCookie(s))).status, 200, 'a session from the burst works');
  }
  await advance('16m');
  assert.equal((await login('burst')).status, 200, 'logins go on after the burst');
});

test('audit rows: login.ok (actor the user), login.failed (name and address), logout', T, async () => {
  const rows = await srv.audit();
  const ok = rows.filter((r) => r.type === 'login.ok' && r.actor === 'sam');
  assert.ok(ok.length >= 1, 'login.ok');
  assert.match(ok[0].data.session, /^ses_/);
  const failed = rows.filter((r) => r.type === 'login.failed');
  const wrong = failed.find((r) => r.data.name === 'sam');
  assert.ok(wrong, 'login.failed for sam');
  assert.equal(wrong.data.reason, 'wrong_password');
  assert.ok(wrong.data.address, 'the client address');
  assert.ok(failed.find((r) => r.data.name === 'nobody-here' && r.data.reason === 'unknown_user'));
  assert.ok(!JSON.stringify(failed).includes('not the password'), 'no password in the audit');
  const out = rows.filter((r) => r.type === 'logout');
  assert.equal(out.length, 1);
  assert.equal(out[0].actor, 'sam');
  const verify = await srv.api('GET', '/v1/audit/verify');
  assert.equal(verify.json.ok, true);
});

// Last: it uses up most of this address's allowance of failures.
test('20 failed logins in a row: the later ones are 429 with Retry-After, even with the right password; the window passes', T, async () => {
  const statuses = [];
  let limited;
  for (let i = 0; i < 20; i++) {
    const r = await login('rita', `guess-${i}`);
    statuses.push(r.status);
    if (r.status === 429) limited = r;
  }
  assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401), statuses.join(','));
  assert.deepEqual(statuses.slice(10), Array(10).fill(429), statuses.join(','));
  assert.equal(limited.json.error.code, 'rate_limited');
  const retry = Number(limited.headers.get('retry-after'));
  assert.ok(retry > 0 && retry <= 15 * 60, `Retry-After: ${retry}`);
  assert.equal((await login('rita')).status, 429, 'the right password is refused too while limited');
  // another account from the same address still works (limit per name: 10; per address: 30)
  assert.equal((await login('ida')).status, 200);
  await advance('16m');
  assert.equal((await login('rita')).status, 200, 'after the window');
});

test('60 wrong logins at once: no more than the limit get their password checked, the rest are 429; each checked one is audited', T, async () => {
  await advance('16m');                 // a fresh window for this address
  await srv.createUser('para', { password: PASSWORD });
  const before = (await srv.audit()).filter((r) => r.type === 'login.failed' && r.data?.name === 'para').length;
  const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => login('para', `guess-${i}`)));
  const counts = {};
  for (const r of answers) counts[r.status] = (counts[r.status] || 0) + 1;
  // The limit is 10 per name; attempts in flight at once count too, checked
  // and counted under one lock.
  assert.equal(counts[401], 10, JSON.stringify(counts));
  assert.equal((counts[401] || 0) + (counts[429] || 0), 60, JSON.stringify(counts));
  const after = (await srv.audit()).filter((r) => r.type === 'login.failed' && r.data?.name === 'para').length;
  assert.equal(after - before, counts[401], 'every checked attempt is audited, no refused one');
  await advance('16m');
  assert.equal((await login('para')).status, 200, 'after the window');
});

test('a login from another site (Sec-Fetch-Site: cross-site, or Origin: null) is 403; same-origin and non-browser clients log in', T, async () => {
  const post = (headers) => srv.api('POST', '/v1/session', { token: null, body: { name: 'sam', password: PASSWORD }, headers });
  const cross = await post({ 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' });
  assert.equal(cross.status, 403, describeResponse(cross));
  assert.match(cross.json.error.message, /this server's own pages/);
  assert.ok(!(cross.headers.getSetCookie?.() || []).some((c) => c.startsWith('spojit_session=sps_')), 'no session cookie');
  assert.equal((await post({ origin: 'null' })).status, 403);
  assert.equal((await post({ 'sec-fetch-site': 'same-origin' })).status, 200);
  assert.equal((await post({})).status, 200);
});

test('a login or a cookie change whose Origin is another site is 403 even without Sec-Fetch-Site; this server\'s own Origin and no Origin pass', T, async () => {
  const post = (headers) => srv.api('POST', '/v1/session', { token: null, body: { name: 'sam', password: PASSWORD }, headers });
  const noCookie = (r) => !(r.headers.getSetCookie?.() || []).some((c) => c.startsWith('spojit_session=sps_'));
  const port = new URL(srv.url).port;
  for (const origin of ['https://evil.example', `http://localhost.evil.example:${port}`, `http://127.0.0.1:${Number(port) + 1}`,
    `https://127.0.0.1:${port}`, `http://127.0.0.1`, `${srv.url}/`, `${srv.url}.evil.example`, 'null', '']) {
    const r = await post({ origin });
    assert.equal(r.status, 403, `Origin '${origin}': ${describeResponse(r)}`);
    assert.ok(errorShape(r));
    assert.match(r.json.error.message, /this server's own pages: the Origin header/, describeResponse(r));
    assert.ok(noCookie(r), `Origin '${origin}': no session cookie`);
  }
  // the server's own origin, in any case; and clients that send no Origin
  assert.equal((await post({ origin: srv.url })).status, 200);
  assert.equal((await post({ origin: srv.url.toUpperCase() })).status, 200);
  assert.equal((await post({})).status, 200);

  // a change made with the cookie and its CSRF token, from another site's page
  const s = await session('sam');
  const foreign = await srv.api('POST', '/v1/approvals', { ...withCookie(s, { 'x-csrf-token': s.csrf, origin: 'https://evil.example' }), body: approval });
  assert.equal(foreign.status, 403, describeResponse(foreign));
  assert.match(foreign.json.error.message, /^POST \/v1\/approvals must come from this server's own pages/);
  const own = await srv.api('POST', '/v1/approvals', { ...withCookie(s, { 'x-csrf-token': s.csrf, origin: srv.url }), body: approval });
  assert.equal(own.status, 201, describeResponse(own));
  // reads are not changes; a key is not a browser's cookie
  assert.equal((await srv.api('GET', '/v1/runs', withCookie(s, { origin: 'https://evil.example' }))).status, 200);
  const key = await srv.createKey('sam');
  assert.equal((await srv.api('POST', '/v1/approvals', { token: key, headers: { origin: 'https://evil.example' }, body: approval })).status, 201);
});

test('--secure-cookies marks the cookie Secure on plain HTTP (HTTPS ends at a proxy); without it, plain HTTP gets no Secure', T, async () => {
  const behindProxy = new Server({ args: ['--secure-cookies'] });
  try {
    await behindProxy.start();
    await behindProxy.createUser('pxy', { password: PASSWORD });
    const r = await behindProxy.api('POST', '/v1/session', { token: null, body: { name: 'pxy', password: PASSWORD } });
    assert.equal(r.status, 200, describeResponse(r));
    assert.match(cookieOf(r), /; Secure/);
    await behindProxy.stopClean();
  } finally {
    await behindProxy.dispose();
  }
  const plain = await login('sam');
  assert.equal(plain.status, 200);
  assert.doesNotMatch(cookieOf(plain), /Secure/);
});
