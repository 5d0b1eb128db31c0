// External agents (SPEC §8, POST /v1/approvals): a decision reached by
// long-poll, and by a signed callback retried until it is taken - checked
// with the verification code the docs give agents. The receivers here
// listen on 127.0.0.1, so the server runs with --callbacks-private
// (callback_targets.test.mjs: what happens without it).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { before, test } from 'node:test';

import { REPO, describeResponse, useServer } from './lib/server.mjs';
import { decide, waitRun } from './lib/world.mjs';

const T = { timeout: 120_000 };
const srv = useServer({ args: ['--callbacks-private'] });
const keys = {};
const VERIFY = path.join(REPO, 'docs/api/examples/verify_callback.py');

// A receiver that answers the first `failures` POSTs with 500, then 200.
function receiver(failures) {
  const got = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(got.length <= failures ? 500 : 200, { 'Content-Type': 'text/plain' });
      res.end('ok');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}/hook`, got, close: () => new Promise((r) => server.close(r)),
  })));
}

function verify(secret, header, body, now) {
  const args = [VERIFY, secret, header];
  if (now !== undefined) args.push(String(now));
  return spawnSync('python3', args, { input: body }).status;
}

async function until(pred, ms = 30_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await pred();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail('timed out waiting');
}

before(async () => {
  keys.agent = await srv.userWithKey('bot-owner');
  keys.agentKey = await srv.createKey('bot-owner', 'agent');
  keys.fin = await srv.userWithKey('fin', { teams: ['finance'] });
}, T);

test('an agent gets its decision by long-poll', T, async () => {
  const made = await srv.api('POST', '/v1/approvals', {
    token: keys.agentKey,
    body: { title: 'Refund 612?', proposal: { amount: 612 }, reasoning: 'damaged', to: ['team:finance'] },
  });
  assert.equal(made.status, 201, describeResponse(made));
  assert.equal(made.json.callback_secret, undefined, 'no callback, no secret');
  let settled = false;
  const polling = srv.api('GET', `/v1/approvals/${made.json.id}?wait=30`, { token: keys.agentKey })
    .finally(() => { settled = true; });
  // held before the decision, so the answer comes from the wake-up and not
  // from the first read of an already decided gate
  const probe = await srv.held(`/v1/approvals/${made.json.id}`, { token: keys.agentKey });
  assert.equal(probe.status, 'pending');
  assert.equal(settled, false, 'the long-poll returned while the gate was still pending');
  const d = await decide(srv, made.json.id, keys.fin, { decision: 'approve', edits: {} });
  assert.equal(d.status, 200, describeResponse(d));
  const polled = await polling;
  assert.equal(polled.status, 200, describeResponse(polled));
  assert.equal(polled.json.status, 'approved');
});

test('a signed callback is retried until taken, and the documented check accepts it - and refuses forgeries and replays', T, async () => {
  const rx = await receiver(2);
  try {
    const made = await srv.api('POST', '/v1/approvals', {
      token: keys.agentKey,
      body: { title: 'Refund 90?', proposal: { amount: 90 }, to: ['team:finance'], callback_url: rx.url },
    });
    assert.equal(made.status, 201, describeResponse(made));
    const secret = made.json.callback_secret;
    assert.match(secret, /^whsec_/);
    assert.equal(made.json.callback.state, 'waiting');
    const again = await srv.api('GET', `/v1/approvals/${made.json.id}`, { token: keys.agentKey });
    assert.equal(again.json.callback_secret, undefined, 'the secret is shown once');
    assert.ok(!JSON.stringify(again.json).includes(secret));

    const d = await decide(srv, made.json.id, keys.fin, { decision: 'reject', comment: 'too much' });
    assert.equal(d.status, 200, describeResponse(d));
    const gate = await until(async () => {
      const g = (await srv.api('GET', `/v1/approvals/${made.json.id}`)).json;
      return g.callback.state === 'delivered' ? g : null;
    });
    assert.equal(rx.got.length, 3, 'two 500s, then a 2xx');
    assert.equal(gate.callback.attempts, 3);
    for (const got of rx.got) {
      assert.equal(got.headers['idempotency-key'], `${made.json.id}/callback`,
        'every attempt carries the same key, for the receiver to drop repeats');
    }

    const last = rx.got[2];
    const header = last.headers['spojit-signature'];
    assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
    const payload = JSON.parse(last.body.toString());
    assert.equal(payload.type, 'approval.resolved');
    assert.equal(payload.approval.id, made.json.id);
    assert.equal(payload.approval.status, 'rejected');
    assert.equal(payload.approval.decisions[0].comment, 'too much');
    assert.ok(!last.body.toString().includes(secret), 'the secret is not in the payload');

    assert.equal(verify(secret, header, last.body), 0, 'the documented check accepts the real callback');
    assert.equal(verify('whsec_wrong', header, last.body), 1, 'a wrong secret fails');
    const edited = Buffer.from(last.body.toString().replace('"rejected"', '"approved"'));
    assert.equal(verify(secret, header, edited), 1, 'an edited body fails');
    const t = Number(/t=(\d+)/.exec(header)[1]);
    assert.equal(verify(secret, header, last.body, t + 600), 1, 'a 10-minute-old callback fails (replay)');

    const rows = await srv.audit({ approval_id: made.json.id });
    assert.equal(rows.filter((r) => r.type === 'callback.attempt_failed').length, 2);
    assert.equal(rows.filter((r) => r.type === 'callback.delivered').length, 1);
    const run = await waitRun(srv, made.json.run_id);
    assert.equal(run.output.status, 'rejected');
  } finally {
    await rx.close();
  }
});
