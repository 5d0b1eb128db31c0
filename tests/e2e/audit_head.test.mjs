// A shortened audit trail is detected. The store keeps the chain's head, so
// deleting the newest rows of a stopped server's database fails `audit
// verify --db`; putting the recorded head back to an older value as well (a
// consistent older state) passes that check but fails against a signed head
// saved earlier (`audit verify --head`). Signed heads - from the API, the
// CLI and the --audit-anchor file - verify with Node's own Ed25519 and the
// public key alone, and the whole chain is recomputed from `audit export
// --format jsonl` with Node's HMAC and the revealed audit key, following
// docs/internals/audit.md and no spojit code.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import { cli, describeResponse, parseJsonl, rmrf, sqlite, tmpdir, useServer } from './lib/server.mjs';
import { decide, refundInput, refundWorld, startRun, startWaiting, waitRun } from './lib/world.mjs';

const T = { timeout: 240_000 };
const dir = tmpdir();
const ANCHOR = path.join(dir, 'anchor.jsonl');
const srv = useServer({ dir, args: ['--audit-anchor', ANCHOR, '--audit-anchor-every', '1'] });
after(() => rmrf(dir));

function anchorPath() {
  return ANCHOR;
}

// The documented signed text: "spojit-audit-head-v1 <seq> <hash> <at>".
function headVerifies(head, pem) {
  const text = `spojit-audit-head-v1 ${head.seq} ${head.hash} ${head.at}`;
  return crypto.verify(null, Buffer.from(text), crypto.createPublicKey(pem), Buffer.from(head.signature, 'hex'));
}

async function activity(keys, n) {
  const small = await startRun(srv, 'refund', refundInput(40 + n), { token: keys.requester });
  await waitRun(srv, small.id);
  const big = await startWaiting(srv, 'refund', refundInput(600 + n), { token: keys.requester });
  assert.equal((await decide(srv, big.approvalId, keys.alice, { decision: 'approve', comment: `ok ${n} "quoted"\n` })).status, 200);
  await waitRun(srv, big.run.id);
}

async function waitFor(what, fn, ms = 20_000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function anchorLines() {
  if (!fs.existsSync(anchorPath())) return [];
  return parseJsonl(fs.readFileSync(anchorPath(), 'utf8'));
}

// Canonical JSON as the store keeps data (docs/internals/audit.md): compact,
// keys sorted by their bytes, control characters other than \b \f \n \r \t
// as \u00XX in uppercase hex, everything else as is. This trail's data holds
// no non-integral numbers, whose %.17g form is not what JavaScript prints.
function canonical(v) {
  if (v === null || typeof v === 'boolean') return JSON.stringify(v);
  if (typeof v === 'number') {
    assert.ok(Number.isInteger(v), `a non-integral number in audit data: ${v}`);
    return String(v);
  }
  if (typeof v === 'string') {
    return '"' + v.replace(/[\u0000-\u001f"\\]/g, (c) => ({
      '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t',
    }[c] ?? '\\u' + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0'))) + '"';
  }
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  const keys = Object.keys(v).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return '{' + keys.map((k) => canonical(k) + ':' + canonical(v[k])).join(',') + '}';
}

// F(x) = be32(length) || bytes; F(null) = ff ff ff ff.
function field(x) {
  if (x === null || x === undefined) return Buffer.from([0xff, 0xff, 0xff, 0xff]);
  const b = Buffer.from(x, 'utf8');
  const n = Buffer.alloc(4);
  n.writeUInt32BE(b.length);
  return Buffer.concat([n, b]);
}

function rowHash(keyHex, prev, row) {
  const ints = Buffer.alloc(16);
  ints.writeBigInt64BE(BigInt(row.seq), 0);
  ints.writeBigInt64BE(BigInt(Date.parse(row.at)), 8);
  return crypto.createHmac('sha256', Buffer.from(keyHex, 'hex'))
    .update(prev).update(ints)
    .update(field(row.actor)).update(field(row.type)).update(field(row.run_id))
    .update(field(row.approval_id)).update(field(canonical(row.data)))
    .digest('hex');
}

let keys, pem, savedHeadFile, olderHeadMeta, olderSeq;

test('GET /v1/audit/head is the trail\'s end, signed; the public key at GET /v1/audit/key verifies it; members may not read it', T, async () => {
  ({ keys } = await refundWorld(srv));
  await activity(keys, 1);
  const k = await srv.api('GET', '/v1/audit/key');
  assert.equal(k.status, 200, describeResponse(k));
  assert.equal(k.json.algorithm, 'Ed25519');
  assert.match(k.json.public_key, /^[0-9a-f]{64}$/);
  assert.match(k.json.key_id, /^[0-9a-f]{16}$/);
  pem = k.json.public_key_pem;

  const h = await srv.api('GET', '/v1/audit/head');
  assert.equal(h.status, 200, describeResponse(h));
  const v = await srv.api('GET', '/v1/audit/verify');
  assert.equal(v.json.ok, true, v.text);
  assert.ok(h.json.seq >= v.json.rows, `head seq ${h.json.seq} vs rows ${v.json.rows} a moment before`);
  const rows = await srv.audit();
  const atSeq = rows.find((r) => r.seq === h.json.seq);
  assert.equal(atSeq.hash, h.json.hash, 'the head is the hash of the row at its seq');
  assert.equal(h.json.key_id, k.json.key_id);
  assert.ok(headVerifies(h.json, pem), 'Node verifies the signature with the public key');
  assert.ok(!headVerifies({ ...h.json, seq: h.json.seq - 1 }, pem), 'and refuses it for another seq');

  const member = await srv.api('GET', '/v1/audit/head', { token: keys.requester });
  assert.equal(member.status, 403, describeResponse(member));
});

test('spojit audit head prints a signed head that verify --head accepts while the trail extends it, online', T, async () => {
  // the recorded head now, for the rollback below: the value the store kept
  // at a moment between two bursts of activity
  olderHeadMeta = sqlite(srv.dbPath, "SELECT value FROM meta WHERE key = 'audit_head'").trim();
  olderSeq = JSON.parse(olderHeadMeta).seq;
  await activity(keys, 2);
  const out = await cli(['audit', 'head'], { url: srv.url, token: srv.token });
  assert.equal(out.code, 0, out.stderr);
  const head = JSON.parse(out.stdout);
  assert.ok(head.seq > olderSeq, `the head moved on: ${head.seq} > ${olderSeq}`);
  assert.ok(headVerifies(head, pem));
  savedHeadFile = path.join(srv.dir, 'saved-head.json');
  fs.writeFileSync(savedHeadFile, out.stdout);

  const ok = await cli(['audit', 'verify', '--head', savedHeadFile], { url: srv.url, token: srv.token });
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^ok: /);

  const forged = path.join(srv.dir, 'forged-head.json');
  fs.writeFileSync(forged, JSON.stringify({ ...head, hash: '0'.repeat(64) }));
  const bad = await cli(['audit', 'verify', '--head', forged], { url: srv.url, token: srv.token });
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, /BROKEN at seq \d+: the saved head's signature does not verify/);
  const r = await srv.api('POST', '/v1/audit/verify', { body: { head: { seq: 'x' } } });
  assert.equal(r.status, 200, describeResponse(r));
  assert.equal(r.json.ok, false);
  assert.match(r.json.reason, /is not \{seq, hash, at, key_id, signature\}/);
  const none = await srv.api('POST', '/v1/audit/verify', { body: {} });
  assert.equal(none.status, 400, describeResponse(none));
});

test('the anchor file gets signed heads as the trail grows, each verifying with the public key', T, async () => {
  await activity(keys, 3);
  const end = (await srv.api('GET', '/v1/audit/head')).json.seq;
  const lines = await waitFor(`a head at seq ${end} in the anchor file`, () => {
    const l = anchorLines();
    return l.length && l[l.length - 1].seq >= end ? l : null;
  });
  for (const h of lines) assert.ok(headVerifies(h, pem), `line ${JSON.stringify(h)} verifies`);
  for (let i = 1; i < lines.length; i++) assert.ok(lines[i].seq > lines[i - 1].seq, 'a line only when the trail grew');
  assert.equal((fs.statSync(anchorPath()).mode & 0o777), 0o600, 'the anchor file is private');
});

test('the chain recomputed from `audit export --format jsonl` with Node\'s HMAC and the revealed key matches every row', T, async () => {
  await srv.stopClean();
  const atStop = Number(sqlite(srv.dbPath, 'SELECT max(seq) FROM audit').trim());
  assert.equal(anchorLines().at(-1).seq, atStop, 'at shutdown the anchor file gets the trail\'s final head');
  await srv.start();
  const out = await cli(['audit', 'export', '--format', 'jsonl'], { url: srv.url, token: srv.token });
  assert.equal(out.code, 0, out.stderr);
  const rows = parseJsonl(out.stdout);
  const reveal = await cli(['audit', 'reveal-key', '--db', srv.db]);
  assert.equal(reveal.code, 0, reveal.stderr);
  const key = JSON.parse(reveal.stdout);
  assert.equal(key.algorithm, 'HMAC-SHA-256');
  assert.equal(key.anchor_seq, 0, 'a trail begun by this version is keyed from row 1');
  let prev = '0'.repeat(64);
  assert.ok(rows.length > 30, `rows: ${rows.length}`);
  rows.forEach((row, i) => {
    assert.equal(row.seq, i + 1);
    assert.equal(row.prev_hash, prev, `row ${row.seq} names the previous hash`);
    assert.equal(rowHash(key.key, prev, row), row.hash, `row ${row.seq} (${row.type}) recomputes`);
    prev = row.hash;
  });
  // and a changed byte does not
  const edited = { ...rows[3], actor: rows[3].actor + 'x' };
  assert.notEqual(rowHash(key.key, rows[3].prev_hash, edited), rows[3].hash);
});

test('deleting the last two rows of a stopped server fails verify --db; setting the recorded head back too is caught by --head', T, async () => {
  // the stopped server's database, copied with its master key; the server
  // then goes on for the file's clean-stop check
  await srv.stopClean();
  const copy = path.join(dir, 'copy.db');
  fs.copyFileSync(srv.dbPath, copy);
  fs.copyFileSync(srv.dbPath + '.key', copy + '.key');
  await srv.start();
  const db = `sqlite:${copy}`;
  const intact = await cli(['audit', 'verify', '--db', db, '--head', savedHeadFile, '--json']);
  assert.equal(intact.code, 0, intact.stdout + intact.stderr);
  const result = JSON.parse(intact.stdout);
  const total = Number(sqlite(copy, 'SELECT max(seq) FROM audit').trim());
  assert.equal(result.recorded_head, total, 'the recorded head is the trail\'s last row');
  assert.equal((await cli(['audit', 'verify', '--db', db, '--head', anchorPath()])).code, 0,
    'the anchor file\'s last head is extended too');

  sqlite(copy, `DELETE FROM audit WHERE seq > ${total - 2}`);
  const short = await cli(['audit', 'verify', '--db', db]);
  assert.equal(short.code, 1, short.stdout + short.stderr);
  assert.match(short.stdout, new RegExp(`BROKEN at seq ${total - 1}: the trail ends at seq ${total - 2}, before the head the store keeps .* rows ${total - 1} to ${total} were deleted`));

  // the whole database put back to an older state: rows and recorded head
  sqlite(copy, `DELETE FROM audit WHERE seq > ${olderSeq}; UPDATE meta SET value = '${olderHeadMeta}' WHERE key = 'audit_head'`);
  const older = await cli(['audit', 'verify', '--db', db]);
  assert.equal(older.code, 0, `a consistent older state passes on its own: ${older.stdout}${older.stderr}`);
  const caught = await cli(['audit', 'verify', '--db', db, '--head', savedHeadFile]);
  assert.equal(caught.code, 1, caught.stdout + caught.stderr);
  const saved = JSON.parse(fs.readFileSync(savedHeadFile, 'utf8'));
  assert.match(caught.stdout, new RegExp(`BROKEN at seq ${olderSeq + 1}: the trail ends at seq ${olderSeq}, before the saved head at seq ${saved.seq}`));

  // a head moved back without the key (the mac no longer fits) is refused
  sqlite(copy, `UPDATE meta SET value = json_set(value, '$.seq', ${olderSeq - 1}, '$.hash', (SELECT hash FROM audit WHERE seq = ${olderSeq - 1})) WHERE key = 'audit_head'; DELETE FROM audit WHERE seq = ${olderSeq}`);
  const forged = await cli(['audit', 'verify', '--db', db]);
  assert.equal(forged.code, 1, forged.stdout + forged.stderr);
  assert.match(forged.stdout, /its mac does not match/);
});
