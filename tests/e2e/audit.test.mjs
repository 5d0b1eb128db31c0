// The tamper-evident audit trail: verify over the API, the CLI and offline;
// one edited byte is found; JSONL and CSV exports. A trail from before the
// chain was keyed (plain SHA-256) is anchored and continues keyed; a row
// edited behind the server's back, with every later hash recomputed the
// plain way, is still found, and so is a NUL byte appended to a row.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';

import { cli, describeResponse, parseJsonl, rmrf, sqlite, tmpdir, useServer } from './lib/server.mjs';
import { decide, refundInput, refundWorld, startRun, startWaiting, waitRun } from './lib/world.mjs';

const T = { timeout: 240_000 };
const srv = useServer();
let keys;

const COLUMNS = ['seq', 'at', 'actor', 'type', 'run_id', 'approval_id', 'data', 'prev_hash', 'hash'];

before(async () => {
  ({ keys } = await refundWorld(srv));
  // some activity: an auto-approved run, an approved one, a rejected one
  const small = await startRun(srv, 'refund', refundInput(80), { token: keys.requester });
  await waitRun(srv, small.id);
  const big = await startWaiting(srv, 'refund', refundInput(612), { token: keys.requester });
  assert.equal((await decide(srv, big.approvalId, keys.alice, { decision: 'approve', edits: { '/amount': 500 } })).status, 200);
  await waitRun(srv, big.run.id);
  const no = await startWaiting(srv, 'refund', refundInput(999, 'standard'), { token: keys.requester });
  assert.equal((await decide(srv, no.approvalId, keys.bob, { decision: 'reject', comment: 'a "quoted", comma\nand newline' })).status, 200);
  await waitRun(srv, no.run.id);
}, T);

// RFC 4180: fields separated by commas, records by CRLF or LF, quoted fields
// may hold commas, quotes ("") and line breaks.
function parseCsv(text) {
  const records = [];
  let rec = [], field = '', i = 0, quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i++; continue; }
      field += c; i++; continue;
    }
    if (c === '"' && field === '') { quoted = true; i++; continue; }
    if (c === ',') { rec.push(field); field = ''; i++; continue; }
    if (c === '\r' && text[i + 1] === '\n') { i++; continue; }
    if (c === '\n') { rec.push(field); records.push(rec); rec = []; field = ''; i++; continue; }
    field += c; i++;
  }
  if (field !== '' || rec.length) { rec.push(field); records.push(rec); }
  return records;
}

let verified;   // {rows, head} of the intact trail

test('GET /v1/audit/verify is ok on an intact trail, with the row count and the head hash', T, async () => {
  const r = await srv.api('GET', '/v1/audit/verify');
  assert.equal(r.status, 200, describeResponse(r));
  assert.equal(r.json.ok, true, r.text);
  assert.ok(Number.isInteger(r.json.rows) && r.json.rows > 20, `rows: ${r.json.rows}`);
  assert.match(String(r.json.head), /^[0-9a-f]{64}$/, 'head is a SHA-256 in hex');
  assert.equal(r.json.first_bad_seq ?? null, null);
  verified = r.json;

  const rows = await srv.audit();
  assert.equal(rows.length, r.json.rows, 'verify counts every row');
  assert.equal(rows[rows.length - 1].hash, r.json.head, 'head is the last row hash');
  const needed = ['workflow.applied', 'run.started', 'step.started', 'step.completed', 'gate.opened',
    'gate.auto_approved', 'decision', 'gate.resolved', 'run.ended', 'user.created', 'team.created', 'key.created'];
  const types = new Set(rows.map((x) => x.type));
  for (const t of needed) assert.ok(types.has(t), `the trail has a ${t} row (has ${[...types].join(', ')})`);
  const dec = rows.find((x) => x.type === 'decision' && JSON.stringify(x.data).includes('quoted'));
  assert.ok(dec, 'the reject decision is in the trail');
  assert.match(JSON.stringify(dec.data), /bob/);
  assert.ok(rows.every((x) => x.type !== 'decision' || x.actor), 'a decision row names its actor');
});

test('JSONL export has one line per row, chained by prev_hash, with the documented columns', T, async () => {
  const r = await srv.api('GET', '/v1/audit?format=jsonl');
  assert.equal(r.status, 200, describeResponse(r));
  const lines = r.text.split('\n').filter((l) => l !== '');
  const rows = parseJsonl(r.text);
  assert.equal(lines.length, rows.length);
  // the server may cap one response; the rest comes with after=
  const all = await srv.audit();
  assert.equal(all.length, verified.rows, 'one JSONL line per row');
  for (const row of all) for (const c of COLUMNS) assert.ok(c in row, `row ${row.seq} has ${c}`);
  for (let i = 0; i < all.length; i++) {
    assert.equal(all[i].seq, i + 1, 'seq counts up from 1 with no gaps');
    if (i > 0) assert.equal(all[i].prev_hash, all[i - 1].hash, `row ${all[i].seq} chains to the row before`);
  }
  // run_id filter
  const runId = all.find((x) => x.type === 'run.started').run_id;
  const some = await srv.audit({ run_id: runId });
  assert.ok(some.length > 3 && some.every((x) => x.run_id === runId), 'the run_id filter returns only that run');
});

test('CSV export has a header and one record per row', T, async () => {
  const r = await srv.api('GET', '/v1/audit?format=csv');
  assert.equal(r.status, 200, describeResponse(r));
  assert.match(r.headers.get('content-type') || '', /csv/);
  const recs = parseCsv(r.text);
  assert.deepEqual(recs[0], COLUMNS, 'the header');
  const body = recs.slice(1);
  const all = await srv.audit();
  if (body.length < all.length) {
    // a capped page: the rest with after=
    let after = Number(body[body.length - 1][0]);
    for (;;) {
      const more = await srv.api('GET', `/v1/audit?format=csv&after=${after}`);
      const m = parseCsv(more.text).slice(1);
      if (!m.length) break;
      body.push(...m);
      after = Number(m[m.length - 1][0]);
    }
  }
  assert.equal(body.length, all.length, 'one CSV record per audit row');
  body.forEach((rec, i) => {
    assert.equal(rec.length, COLUMNS.length, `record ${i + 1} has ${COLUMNS.length} fields: ${JSON.stringify(rec).slice(0, 300)}`);
    assert.equal(Number(rec[0]), all[i].seq);
    assert.equal(rec[3], all[i].type);
    assert.equal(rec[8], all[i].hash);
    assert.deepEqual(JSON.parse(rec[6]), all[i].data, `record ${i + 1}: data is the row's JSON`);
  });

  // the CLI's export says the same
  const x = await cli(['audit', 'export', '--format', 'csv'], { url: srv.url, token: srv.token });
  assert.equal(x.code, 0, x.stderr);
  const cliRecs = parseCsv(x.stdout);
  assert.deepEqual(cliRecs[0], COLUMNS);
  assert.equal(cliRecs.length - 1, all.length, 'spojit audit export --format csv: one record per row');
  const j = await cli(['audit', 'export'], { url: srv.url, token: srv.token });
  assert.equal(j.code, 0, j.stderr);
  assert.equal(parseJsonl(j.stdout).length, all.length, 'spojit audit export: one JSONL line per row');
});

test('spojit audit verify is ok against the server and offline with --db', T, async () => {
  const on = await cli(['audit', 'verify'], { url: srv.url, token: srv.token });
  assert.equal(on.code, 0, `stdout: ${on.stdout}\nstderr: ${on.stderr}`);
  assert.match(on.stdout, /\bok\b/i);
  assert.ok(on.stdout.includes(String(verified.rows)), `names the row count ${verified.rows}: ${on.stdout}`);

  const missing = await cli(['audit', 'verify', '--db', `sqlite:${path.join(srv.dir, 'nope.db')}`]);
  assert.equal(missing.code, 1, `a missing store file is an error: ${missing.stdout}${missing.stderr}`);
  assert.ok(!fs.existsSync(path.join(srv.dir, 'nope.db')), 'verify must not create a store');
});

test('one edited byte of one audit row is reported as the first bad row by the API and the CLI (exit 1), online and offline', T, async () => {
  await srv.stop();
  const res = await srv.proc.exited;
  assert.equal(res.code, 0, `clean exit on SIGTERM: ${srv.tail()}`);

  const off = await cli(['audit', 'verify', '--db', srv.db]);
  assert.equal(off.code, 0, `offline verify of the intact store: ${off.stdout}${off.stderr}`);
  assert.match(off.stdout, /\bok\b/i);

  // choose a row in the middle whose data has a letter inside a JSON string
  const total = Number(sqlite(srv.dbPath, 'SELECT count(*) FROM audit').trim());
  assert.equal(total, verified.rows);
  let seq = Math.floor(total / 2), target = null;
  for (; seq <= total && !target; seq++) {
    const [type, hex] = sqlite(srv.dbPath, `SELECT typeof(data), hex(data) FROM audit WHERE seq = ${seq}`).trim().split('|');
    const bytes = Buffer.from(hex, 'hex');
    let inStr = false;
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i];
      if (inStr && c === 0x5c) { i++; continue; }          // skip escapes
      if (c === 0x22) { inStr = !inStr; continue; }
      if (inStr && c >= 0x61 && c <= 0x7a) { target = { seq, type, bytes, at: i }; break; }
    }
  }
  assert.ok(target, 'found a row to edit');
  const b = Buffer.from(target.bytes);
  b[target.at] = b[target.at] === 0x61 ? 0x62 : 0x61;      // one byte: a letter for another
  const lit = target.type === 'blob' ? `X'${b.toString('hex')}'` : `CAST(X'${b.toString('hex')}' AS TEXT)`;
  sqlite(srv.dbPath, `UPDATE audit SET data = ${lit} WHERE seq = ${target.seq}`);
  const check = sqlite(srv.dbPath, `SELECT hex(data) FROM audit WHERE seq = ${target.seq}`).trim();
  assert.equal(check, b.toString('hex').toUpperCase(), 'the edit is in the store');
  const N = target.seq;

  const bad = await cli(['audit', 'verify', '--db', srv.db]);
  assert.equal(bad.code, 1, `offline verify of an edited store must exit 1: ${bad.stdout}${bad.stderr}`);
  assert.match(bad.stdout + bad.stderr, new RegExp(`\\b${N}\\b`), `names seq ${N}: ${bad.stdout}${bad.stderr}`);
  assert.doesNotMatch(bad.stdout, /^ok\b/im);

  await srv.start();
  const r = await srv.api('GET', '/v1/audit/verify');
  assert.equal(r.status, 200, describeResponse(r));
  assert.equal(r.json.ok, false, `the API must see the edit: ${r.text}`);
  assert.equal(r.json.first_bad_seq, N, r.text);

  const on = await cli(['audit', 'verify'], { url: srv.url, token: srv.token });
  assert.equal(on.code, 1, `online CLI verify of a broken chain must exit 1: ${on.stdout}${on.stderr}`);
  assert.match(on.stdout + on.stderr, new RegExp(`\\b${N}\\b`), `names seq ${N}: ${on.stdout}${on.stderr}`);
});

// ---- the keyed chain, against a database edited with file access only ----

const old = useServer();

// Every row as stored: data as its exact bytes (hex in SQL, so nothing in
// between re-encodes it).
function readRows(dbPath) {
  const out = sqlite(dbPath, "SELECT json_object('seq', seq, 'at', at, 'actor', actor, 'type', type, " +
    "'run_id', run_id, 'approval_id', approval_id, 'data', hex(data), 'prev_hash', prev_hash, " +
    "'hash', hash) FROM audit ORDER BY seq");
  return out.split('\n').filter((l) => l).map((l) => {
    const r = JSON.parse(l);
    r.data = Buffer.from(r.data, 'hex');
    return r;
  });
}

// The formula of a spojit from before the keyed chain, written from its
// documentation (docs/internals/audit.md, "plain"): SHA-256 of prev_hash and
// the canonical JSON of the row, the stored data text spliced in as "data".
function plainHash(prev, r) {
  const fields = JSON.stringify({
    actor: r.actor, approval_id: r.approval_id, at: new Date(r.at).toISOString(),
    run_id: r.run_id, seq: r.seq, type: r.type,
  });
  const cut = fields.indexOf(',"run_id":');
  return crypto.createHash('sha256').update(prev).update(fields.slice(0, cut)).update(',"data":')
    .update(r.data).update(fields.slice(cut)).digest('hex');
}

// Recomputes prev_hash and hash of every row from `from` on, plain; the
// rows are re-read, so edits made before are covered.
function rechainPlain(dbPath, from) {
  const rows = readRows(dbPath);
  let prev = from === 1 ? '0'.repeat(64) : rows[from - 2].hash;
  const sql = ['BEGIN;'];
  for (const r of rows.slice(from - 1)) {
    const h = plainHash(prev, r);
    sql.push(`UPDATE audit SET prev_hash = '${prev}', hash = '${h}' WHERE seq = ${r.seq};`);
    prev = h;
  }
  sql.push('COMMIT;');
  sqlite(dbPath, sql.join('\n'));
}

async function decideOne(s, keys, amount) {
  const w = await startWaiting(s, 'refund', refundInput(amount), { token: keys.requester });
  assert.equal((await decide(s, w.approvalId, keys.alice, { decision: 'approve' })).status, 200);
  await waitRun(s, w.run.id);
}

async function stopOld() {
  await old.stop();
  const res = await old.proc.exited;
  assert.equal(res.code, 0, `clean exit on SIGTERM: ${old.tail()}`);
}

let anchor;         // the last plain seq of `old`
let keyedCopy;      // a copy of `old` once it holds keyed rows: {db, dbPath}

test('a trail of plain SHA-256 hashes (from an older spojit) verifies, then continues keyed from its last row', T, async () => {
  const { keys } = await refundWorld(old);
  await decideOne(old, keys, 700);
  await stopOld();
  // Make it the database an older spojit left: every hash plain, schema
  // version 6 (before the anchor), no anchor and no audit key.
  rechainPlain(old.dbPath, 1);
  sqlite(old.dbPath, "DELETE FROM meta WHERE key IN ('audit_anchor', 'audit_key'); PRAGMA user_version = 6;");
  const rows = readRows(old.dbPath);
  anchor = rows.length;
  assert.ok(anchor > 10, `rows: ${anchor}`);

  // the plain formula above is the one verify checks the old part with
  const plain = await cli(['audit', 'verify', '--db', old.db, '--json']);
  assert.equal(plain.code, 0, `the plain trail verifies: ${plain.stdout}${plain.stderr}`);
  const pj = JSON.parse(plain.stdout);
  assert.equal(pj.rows, anchor);
  assert.equal(pj.keyed_from, anchor + 1, plain.stdout);
  assert.equal(Number(sqlite(old.dbPath, 'PRAGMA user_version').trim()), 7, 'migration 7 ran');

  await old.start();
  await decideOne(old, keys, 800);
  const r = await old.api('GET', '/v1/audit/verify');
  assert.equal(r.status, 200, describeResponse(r));
  assert.equal(r.json.ok, true, r.text);
  assert.equal(r.json.keyed_from, anchor + 1, r.text);
  assert.ok(r.json.rows > anchor + 3, r.text);
  assert.match(r.json.key_id, /^[0-9a-f]{16}$/);
  const all = await old.audit();
  assert.equal(all[anchor].prev_hash, all[anchor - 1].hash, 'the first keyed row links to the last plain one');
  assert.notEqual(all[anchor].hash, plainHash(all[anchor - 1].hash, readRows(old.dbPath)[anchor]),
    'rows after the anchor are not plain SHA-256');
  await stopOld();

  const off = await cli(['audit', 'verify', '--db', old.db]);
  assert.equal(off.code, 0, `offline verify of the keyed trail: ${off.stdout}${off.stderr}`);
  // a copy, with its key file, for the NUL test below
  const dir = tmpdir();
  keyedCopy = { dir, dbPath: path.join(dir, 'copy.db') };
  keyedCopy.db = `sqlite:${keyedCopy.dbPath}`;
  sqlite(old.dbPath, `VACUUM INTO '${keyedCopy.dbPath}'`);
  fs.copyFileSync(`${old.dbPath}.key`, `${keyedCopy.dbPath}.key`);
  fs.chmodSync(`${keyedCopy.dbPath}.key`, 0o600);
});

test('a decision edited with sqlite3 and every later hash recomputed with plain SHA-256 fails offline verify at that row', T, async () => {
  assert.ok(anchor, 'the previous test made the keyed trail');
  const rows = readRows(old.dbPath);
  const dec = rows.find((r) => r.seq > anchor && r.type === 'decision' && r.data.includes('"approve"'));
  assert.ok(dec, 'a keyed decision row');
  sqlite(old.dbPath, `UPDATE audit SET data = replace(data, '"approve"', '"reject"') WHERE seq = ${dec.seq}`);
  assert.ok(readRows(old.dbPath)[dec.seq - 1].data.includes('"reject"'), 'the edit is in the store');
  rechainPlain(old.dbPath, dec.seq);
  // every link holds again...
  const after = readRows(old.dbPath);
  for (let i = 1; i < after.length; i++) assert.equal(after[i].prev_hash, after[i - 1].hash);

  // ...but not the keyed hash
  const bad = await cli(['audit', 'verify', '--db', old.db, '--json']);
  assert.equal(bad.code, 1, `a re-chained trail must fail: ${bad.stdout}${bad.stderr}`);
  const j = JSON.parse(bad.stdout);
  assert.equal(j.ok, false);
  assert.equal(j.first_bad_seq, dec.seq, bad.stdout);
  assert.match(j.reason, /edited/);
  const text = await cli(['audit', 'verify', '--db', old.db]);
  assert.equal(text.code, 1);
  assert.match(text.stdout, new RegExp(`BROKEN at seq ${dec.seq}\\b`), text.stdout);

  // nor does it pass with the master key missing: that is an error, not "ok"
  const key = `${old.dbPath}.key`;
  fs.renameSync(key, `${key}.away`);
  try {
    const nokey = await cli(['audit', 'verify', '--db', old.db]);
    assert.equal(nokey.code, 1, `${nokey.stdout}${nokey.stderr}`);
    assert.match(nokey.stderr, /master key/, nokey.stderr);
    assert.doesNotMatch(nokey.stdout, /^ok\b/m);
    // the key given explicitly
    const given = await cli(['audit', 'verify', '--db', old.db, '--master-key-file', `${key}.away`]);
    assert.equal(given.code, 1, given.stdout + given.stderr);
    assert.match(given.stdout, new RegExp(`BROKEN at seq ${dec.seq}\\b`), given.stdout + given.stderr);
  } finally {
    fs.renameSync(`${key}.away`, key);
  }

  // the server, started on it, says the same
  await old.start();
  const r = await old.api('GET', '/v1/audit/verify');
  assert.equal(r.status, 200, describeResponse(r));
  assert.equal(r.json.ok, false, r.text);
  assert.equal(r.json.first_bad_seq, dec.seq, r.text);
});

test('a NUL byte appended to a row\'s data fails verify at that row', T, async () => {
  assert.ok(keyedCopy, 'the first test made a copy');
  try {
    const ok = await cli(['audit', 'verify', '--db', keyedCopy.db]);
    assert.equal(ok.code, 0, `the copy verifies: ${ok.stdout}${ok.stderr}`);
    for (const seq of [anchor - 1, anchor + 2]) {        // a plain row, then a keyed one
      const before = sqlite(keyedCopy.dbPath, `SELECT length(CAST(data AS BLOB)) FROM audit WHERE seq = ${seq}`).trim();
      sqlite(keyedCopy.dbPath, `UPDATE audit SET data = CAST(data || char(0) AS BLOB) WHERE seq = ${seq}`);
      const now = sqlite(keyedCopy.dbPath, `SELECT length(CAST(data AS BLOB)) FROM audit WHERE seq = ${seq}`).trim();
      assert.equal(Number(now), Number(before) + 1, 'one byte more is stored');
      const bad = await cli(['audit', 'verify', '--db', keyedCopy.db, '--json']);
      assert.equal(bad.code, 1, `seq ${seq}: ${bad.stdout}${bad.stderr}`);
      const j = JSON.parse(bad.stdout);
      assert.equal(j.first_bad_seq, seq, bad.stdout);
      assert.match(j.reason, /NUL/, bad.stdout);
      // put it back for the next round
      sqlite(keyedCopy.dbPath, `UPDATE audit SET data = CAST(substr(data, 1, ${before}) AS TEXT) WHERE seq = ${seq}`);
      const again = await cli(['audit', 'verify', '--db', keyedCopy.db]);
      assert.equal(again.code, 0, `restored: ${again.stdout}${again.stderr}`);
    }
  } finally {
    rmrf(keyedCopy.dir);
  }
});
