// Callbacks go to public addresses only (unless --callbacks-private): the
// URL comes from whoever asks for an approval - an agent key will do - and
// the outcome of each attempt is theirs to read, so without this rule the
// server would probe its own host and networks for them.
import assert from 'node:assert/strict';
import http from 'node:http';
import { before, test } from 'node:test';

import { describeResponse, sleep, useServer } from './lib/server.mjs';
import { decide } from './lib/world.mjs';

const T = { timeout: 120_000 };
// The test clock lets a test move past the back-off of an attempt that must
// not come, instead of sleeping through it.
const srv = useServer({ args: ['--test-clock'] });
const keys = {};
const REFUSED = 'refused: the callback address is not public';

// Counts what reaches it: nothing should.
function receiver() {
  const got = [];
  const server = http.createServer((req, res) => {
    got.push(req.url);
    req.resume();
    res.end('ok');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port, got, close: () => new Promise((r) => server.close(r)),
  })));
}

async function until(pred, ms = 30_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await pred();
    if (v) return v;
    await sleep(100);
  }
  assert.fail('timed out waiting');
}

function ask(callbackUrl) {
  return srv.api('POST', '/v1/approvals', {
    token: keys.agentKey,
    body: { title: 'Refund 40?', proposal: { amount: 40 }, to: ['team:finance'], callback_url: callbackUrl },
  });
}

before(async () => {
  await srv.createUser('bot-owner');
  keys.agentKey = await srv.createKey('bot-owner', 'agent');
  keys.fin = await srv.userWithKey('fin', { teams: ['finance'] });
}, T);

test('a callback_url whose host is a loopback, private or link-local address, or localhost, is refused when asked (422)', T, async () => {
  const rx = await receiver();
  try {
    const urls = [
      `http://127.0.0.1:${rx.port}/`,
      `http://localhost:${rx.port}/hook`,
      'http://LOCALHOST./hook',
      'http://[::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',   // IPv4-mapped IPv6
      'http://2130706433/hook',           // 127.0.0.1 as one number
      'http://0x7f.1/hook',
      'http://0.0.0.0/hook',
      'http://10.1.2.3/hook',
      'https://192.168.1.1/hook',
      'http://172.31.255.255/hook',
      'http://169.254.169.254/latest/meta-data/',   // cloud metadata
      'http://100.64.0.1/hook',
      'http://[fd00::1]/hook',
      'http://[fe80::1%25eth0]/hook',
      'http://user:pw@127.0.0.1/hook',
    ];
    for (const url of urls) {
      const r = await ask(url);
      assert.equal(r.status, 422, `${url}: ${describeResponse(r)}`);
      assert.match(r.json.error.message, /^callback_url: /, url);
      assert.match(r.json.error.message, /public addresses only/, url);
    }
    assert.equal(rx.got.length, 0);
    const ok = await ask('https://hooks.example.com/spojit');
    assert.equal(ok.status, 201, `a public host name is taken: ${describeResponse(ok)}`);
  } finally {
    await rx.close();
  }
});

test('a host name that resolves to loopback is refused when the callback connects: failed at once, with a coarse reason, never retried', T, async () => {
  const rx = await receiver();
  try {
    // libcurl resolves *.localhost to loopback itself, with no DNS: the
    // early check lets host names through, so this one reaches the
    // connect-time check - where a name that rebinds to 127.0.0.1 would.
    const made = await ask(`http://cb.localhost:${rx.port}/hook`);
    assert.equal(made.status, 201, describeResponse(made));
    const d = await decide(srv, made.json.id, keys.fin, { decision: 'approve', edits: {} });
    assert.equal(d.status, 200, describeResponse(d));
    const gate = await until(async () => {
      const g = (await srv.api('GET', `/v1/approvals/${made.json.id}`, { token: keys.agentKey })).json;
      return g.callback.state !== 'sending' && g.callback.state !== 'waiting' ? g : null;
    });
    assert.equal(gate.callback.state, 'failed');
    assert.equal(gate.callback.attempts, 1);
    assert.deepEqual(gate.callback.last, { error: REFUSED }, 'no address, port or libcurl text');

    // Past any second attempt's time (the first back-off is 1 s, the
    // safety timer 11 s): the clock's answer comes once every timer due by
    // then has fired, so a second attempt would show now.
    const fired = await srv.metric('spojit_timers_fired_total');
    const moved = await srv.api('POST', '/v1/admin/clock', { body: { advance: '1h' } });
    assert.equal(moved.status, 200, describeResponse(moved));
    assert.equal(moved.json.timers_pending, 0, `no timer is left for this callback: ${moved.text}`);
    assert.equal(await srv.metric('spojit_timers_fired_total'), fired, 'no timer fired: none was left to');
    const later = (await srv.api('GET', `/v1/approvals/${made.json.id}`)).json;
    assert.equal(later.callback.state, 'failed');
    assert.equal(later.callback.attempts, 1);
    assert.equal(rx.got.length, 0, 'nothing reached the receiver');
    const rows = await srv.audit({ approval_id: made.json.id });
    const failed = rows.filter((r) => r.type === 'callback.failed');
    assert.equal(failed.length, 1);
    assert.deepEqual(failed[0].data, { attempts: 1, error: REFUSED });
    assert.equal(rows.filter((r) => r.type === 'callback.attempt_failed').length, 0);
    assert.match(srv.stderr, /not connecting to \S+ \(a loopback address\)/, "the operator's log says which");
  } finally {
    await rx.close();
  }
});

test("a public host name that does not resolve: the asker reads only 'no answer', the audit trail keeps curl's reason", T, async () => {
  const made = await ask('http://spojit-no-such-host.invalid/hook');
  assert.equal(made.status, 201, describeResponse(made));
  const d = await decide(srv, made.json.id, keys.fin, { decision: 'approve', edits: {} });
  assert.equal(d.status, 200, describeResponse(d));
  const gate = await until(async () => {
    const g = (await srv.api('GET', `/v1/approvals/${made.json.id}`, { token: keys.agentKey })).json;
    return g.callback.last ? g : null;        // the first attempt has come back
  });
  assert.deepEqual(gate.callback.last, { error: 'no answer' }, 'whether a name resolves here is not for the asker');
  const rows = await srv.audit({ approval_id: made.json.id });
  const failed = rows.filter((r) => r.type === 'callback.attempt_failed');
  assert.ok(failed.length >= 1);
  assert.match(failed[0].data.error, /resolve/i, 'the operator sees why');
});
