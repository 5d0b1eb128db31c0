// The tamper-evident audit trail: verify over the API, the CLI and offline;
// one edited byte is found; JSONL and CSV exports.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';

import { cli, describeResponse, parseJsonl, sqlite, useServer } from './lib/server.mjs';
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
