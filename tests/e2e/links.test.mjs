// Signed decision links (SPEC §5): a GET shows a confirmation page and
// decides nothing; the POST of that page decides once; a second use, a link
// whose approver cannot decide, an edited link or an expired one is refused
// with a page that says why.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { before, test } from 'node:test';

import { Server, describeResponse, useServer } from './lib/server.mjs';
import { startWaiting, waitRun } from './lib/world.mjs';

const T = { timeout: 120_000 };
const srv = useServer({ args: ['--test-clock'] });
const keys = {};

const WF = `
name: linked
steps:
  - id: prep
    transform: '{amount: .input.amount}'
  - id: pay
    approval:
      title: "Pay {{ .input.amount }} <now>"
      to: [team:payers]
      timeout: 10h
      on_timeout: reject
    transform: '{paid: .proposal.amount}'
    on_reject: declined
    next: end
  - id: declined
    transform: '{declined: true}'
`;

async function issue(approvalId, user, decision) {
  const r = await srv.api('POST', `/v1/approvals/${approvalId}/links`, { body: { user, decision } });
  assert.equal(r.status, 201, describeResponse(r));
  assert.match(r.json.path, /^\/l\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  return r.json;
}

// A page: {status, text}; POSTs send the form as a browser would.
async function page(method, p, form) {
  const res = await fetch(srv.url + p, {
    method,
    redirect: 'manual',
    headers: form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {},
    body: form ? new URLSearchParams(form).toString() : undefined,
  });
  return { status: res.status, type: res.headers.get('content-type'), csp: res.headers.get('content-security-policy'), text: await res.text() };
}

const gateStatus = async (id) => (await srv.api('GET', `/v1/approvals/${id}`)).json.status;

before(async () => {
  await srv.applyWorkflow(WF);
  keys.ann = await srv.userWithKey('ann', { teams: ['payers'] });
  keys.ben = await srv.userWithKey('ben', { teams: ['payers'] });
  keys.cy = await srv.userWithKey('cy');
  keys.starter = await srv.userWithKey('starter');
}, T);

test('GET shows the proposal and decides nothing; the POST of its form decides once', T, async () => {
  const { run, approvalId } = await startWaiting(srv, 'linked', { amount: 42 }, { token: keys.starter });
  const link = await issue(approvalId, 'ann', 'approve');
  assert.equal(Date.parse(link.expires_at) > Date.now(), true);

  for (let i = 0; i < 3; i++) {         // a mail scanner fetching it, more than once
    const p = await page('GET', link.path);
    assert.equal(p.status, 200, p.text);
    assert.match(p.type, /text\/html/);
    assert.match(p.text, /Approve this request\?/);
    assert.match(p.text, /&lt;now&gt;/, 'the title is escaped, not markup');
    assert.match(p.text, /&quot;amount&quot;: 42/);
    assert.match(p.text, /<form method="post">/);
    assert.doesNotMatch(p.text, /<script/i);
  }
  assert.equal(await gateStatus(approvalId), 'pending', 'GETs decided nothing');

  const done = await page('POST', link.path, { comment: 'fine by me' });
  assert.equal(done.status, 200, done.text);
  assert.match(done.text, /recorded/);
  const g = (await srv.api('GET', `/v1/approvals/${approvalId}`)).json;
  assert.equal(g.status, 'approved');
  assert.equal(g.decisions[0].by, 'ann');
  assert.equal(g.decisions[0].via, 'link');
  assert.equal(g.decisions[0].comment, 'fine by me');
  assert.deepEqual((await waitRun(srv, run.id)).output, { paid: 42 });

  const again = await page('POST', link.path, {});
  assert.equal(again.status, 409, again.text);
  assert.match(again.text, /used/);
  const rows = await srv.audit({ approval_id: approvalId });
  assert.equal(rows.filter((r) => r.type === 'link.issued').length, 1);
  assert.equal(rows.filter((r) => r.type === 'decision').length, 1);
});

test('a link works once even while the gate stays open, and a reject link needs its comment', T, async () => {
  const { approvalId } = await startWaiting(srv, 'linked', { amount: 7 }, { token: keys.starter });
  const rej = await issue(approvalId, 'ben', 'reject');
  const p = await page('GET', rej.path);
  assert.match(p.text, /Reject this request\?/);
  assert.match(p.text, /required/, 'the form asks for the comment a reject needs');
  const bare = await page('POST', rej.path, {});
  assert.equal(bare.status, 422, bare.text);
  const blank = await page('POST', rej.path, { comment: '  \t ' });
  assert.equal(blank.status, 422, `white space alone is no comment: ${blank.text}`);
  assert.equal(await gateStatus(approvalId), 'pending', 'the refused POST changed nothing');
  const ok = await page('POST', rej.path, { comment: 'no+budget & no time' });
  assert.equal(ok.status, 200, ok.text);
  const g = (await srv.api('GET', `/v1/approvals/${approvalId}`)).json;
  assert.equal(g.status, 'rejected');
  assert.equal(g.decisions[0].comment, 'no+budget & no time');
});

test('edited, foreign, unassigned and expired links are refused with a page that says why', T, async () => {
  const { approvalId } = await startWaiting(srv, 'linked', { amount: 9 }, { token: keys.starter });
  const link = await issue(approvalId, 'ann', 'approve');

  // edited: one character of the claims, or of the signature
  const [body, sig] = link.path.slice(3).split('.');
  const flip = (s, i) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  for (const bad of [`/l/${flip(body, 10)}.${sig}`, `/l/${body}.${flip(sig, 5)}`, `/l/${body}`, '/l/x.y']) {
    for (const method of ['GET', 'POST']) {
      const r = await page(method, bad, method === 'POST' ? {} : undefined);
      assert.equal(r.status, 403, `${method} ${bad}: ${r.text}`);
      assert.match(r.text, /not valid/);
    }
  }
  // claims re-signed by nobody: ann's link turned into ben's by hand
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
  claims.by = 'ben';
  const forged = `/l/${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
  assert.equal((await page('POST', forged, {})).status, 403);

  // a user who is not an assignee gets no link at all
  const r = await srv.api('POST', `/v1/approvals/${approvalId}/links`, { body: { user: 'cy', decision: 'approve' } });
  assert.equal(r.status, 422, describeResponse(r));
  // a member may not issue links
  const m = await srv.api('POST', `/v1/approvals/${approvalId}/links`, { token: keys.ann, body: { user: 'ann', decision: 'approve' } });
  assert.equal(m.status, 403, describeResponse(m));

  // ann leaves the team after the link was sent: the page shows nothing of
  // the approval any more, and its POST is refused
  await srv.must('PATCH', '/v1/users/ann', { body: { teams: [] } });
  const gone = await page('POST', link.path, {});
  assert.equal(gone.status, 403, gone.text);
  const look = await page('GET', link.path);
  assert.equal(look.status, 403, look.text);
  assert.match(look.text, /can no longer decide/);
  assert.doesNotMatch(look.text, /Pay 9/, 'not even the title');
  await srv.must('PATCH', '/v1/users/ann', { body: { teams: ['payers'] } });

  // expired: the link ends when the gate is due (10h)
  const nine = await srv.api('POST', '/v1/admin/clock', { body: { advance: '9h' } });
  assert.equal(nine.status, 200, describeResponse(nine));
  const late = await issue(approvalId, 'ben', 'approve');
  const past = await srv.api('POST', '/v1/admin/clock', { body: { advance: '61m' } });
  assert.equal(past.status, 200, describeResponse(past));
  for (const method of ['GET', 'POST']) {
    // the link's own expiry is checked before the gate (which expired too)
    const e = await page(method, late.path, method === 'POST' ? {} : undefined);
    assert.equal(e.status, 410, `${method}: ${e.status} ${e.text}`);
    assert.match(e.text, /This link has expired/);
  }
  assert.equal(await gateStatus(approvalId), 'expired');
});

test('rotating the signing key keeps links already sent working and signs new ones with the new key', T, async () => {
  const { approvalId } = await startWaiting(srv, 'linked', { amount: 5 }, { token: keys.starter });
  const before = await issue(approvalId, 'ann', 'approve');
  const rot = await srv.api('POST', '/v1/admin/link-keys/rotate', { body: {} });
  assert.equal(rot.status, 200, describeResponse(rot));
  const kid = (p) => JSON.parse(Buffer.from(p.slice(3).split('.')[0], 'base64url').toString()).kid;
  const after = await issue(approvalId, 'ben', 'approve');
  assert.notEqual(kid(after.path), kid(before.path));
  assert.equal(kid(after.path), rot.json.current);
  assert.equal((await page('GET', before.path)).status, 200, 'the old link still verifies');
  const used = await page('POST', before.path, {});
  assert.equal(used.status, 200, used.text);
});

test('rotating with revoke: true leaves only the new key, so every link sent before stops working (a link leaked)', T, async () => {
  const { approvalId } = await startWaiting(srv, 'linked', { amount: 6 }, { token: keys.starter });
  const leaked = await issue(approvalId, 'ann', 'approve');
  assert.equal((await page('GET', leaked.path)).status, 200);
  const rot = await srv.api('POST', '/v1/admin/link-keys/rotate', { body: { revoke: true } });
  assert.equal(rot.status, 200, describeResponse(rot));
  assert.equal(rot.json.kept, 1);
  for (const method of ['GET', 'POST']) {
    const r = await page(method, leaked.path, method === 'POST' ? {} : undefined);
    assert.equal(r.status, 403, `${method}: ${r.text}`);
  }
  assert.equal(await gateStatus(approvalId), 'pending', 'nothing was decided');
  const fresh = await issue(approvalId, 'ann', 'approve');
  assert.equal((await page('POST', fresh.path, {})).status, 200, 'a new link works');
  const bad = await srv.api('POST', '/v1/admin/link-keys/rotate', { body: { revoke: 'yes' } });
  assert.equal(bad.status, 400, describeResponse(bad));
  const rows = (await srv.audit()).filter((r) => r.type === 'link_key.rotated');
  assert.equal(rows.at(-1).data.revoked_older, true);
});

test('with decision links sealed and no secrets, a lost key file stops the server instead of being made afresh', T, async () => {
  const keyFile = srv.dbPath + '.key';
  await srv.stop();
  fs.renameSync(keyFile, keyFile + '.saved');
  const other = new Server({ dir: srv.dir, token: srv.token });
  try {
    await assert.rejects(other.start(), (e) => {
      assert.match(e.message, /does not exist, but the store holds \d+ secret/);
      return true;
    });
    assert.ok(!fs.existsSync(keyFile), 'no new key file beside the sealed link keys');
  } finally {
    await other.stop();
    fs.renameSync(keyFile + '.saved', keyFile);
  }
  await srv.start();
  assert.equal((await srv.api('GET', '/healthz')).status, 200);
});
