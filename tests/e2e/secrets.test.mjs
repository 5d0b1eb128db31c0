// Secrets at rest (SPEC §6, §8; docs/operations/security.md): PUT, GET and
// DELETE /v1/secrets, and the promise that a value never comes back out -
// not in an answer, the audit trail (JSON, JSONL, CSV), the server's log, or
// the database file in plaintext - while a restart still opens it, and a
// wrong or lost master key stops the server instead of losing secrets.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { startHub, startSink } from './lib/doubles.mjs';
import { Server, cli, describeResponse, errorShape, useServer } from './lib/server.mjs';
import { waitRun } from './lib/world.mjs';

const T = { timeout: 180_000 };
// A URL's host comes from $env only: the echo API is one path below the hub.
const echoHub = await startHub();
after(() => echoHub.close());
// Debug logging, so that "not in the log" covers everything the server says.
const srv = useServer({ env: echoHub.env, args: ['--log-level', 'debug', ...echoHub.args] });
const keys = {};
const unique = (tag) => `${tag}-${crypto.randomBytes(18).toString('base64url')}`;
const written = [];        // every value sent, to search for afterwards

before(async () => {
  keys.member = await srv.userWithKey('member1');
}, T);

async function put(name, value, token) {
  const r = await srv.api('PUT', `/v1/secrets/${name}`, { body: { value }, token });
  if (typeof value === 'string') written.push(value);
  return r;
}

function assertNoValue(text, where) {
  for (const v of written) {
    assert.ok(!text.includes(v), `${where} contains the secret value ${v.slice(0, 12)}…`);
  }
}

test('PUT creates (201) then replaces (200) a secret and answers its name, never its value', T, async () => {
  const v1 = unique('sk_live'), v2 = unique('sk_live');
  const a = await put('stripe', v1);
  assert.equal(a.status, 201, describeResponse(a));
  assert.deepEqual(Object.keys(a.json).sort(), ['name', 'updated_at']);
  assert.equal(a.json.name, 'stripe');
  assert.match(a.json.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const b = await put('stripe', v2);
  assert.equal(b.status, 200, describeResponse(b));
  assertNoValue(a.text + b.text, 'the PUT answers');

  const list = await srv.api('GET', '/v1/secrets');
  assert.equal(list.status, 200, describeResponse(list));
  const item = list.json.items.find((i) => i.name === 'stripe');
  assert.ok(item, describeResponse(list));
  assert.deepEqual(Object.keys(item).sort(), ['created_at', 'name', 'updated_at']);
  assert.ok(item.updated_at >= item.created_at);
  assertNoValue(list.text, 'GET /v1/secrets');
});

test('only admins (admin role and admin key) may list, write or delete secrets', T, async () => {
  const v = unique('member-try');
  for (const [method, p, body] of [['GET', '/v1/secrets'], ['PUT', '/v1/secrets/m1', { value: v }],
    ['DELETE', '/v1/secrets/stripe']]) {
    const r = await srv.api(method, p, { body, token: keys.member });
    assert.equal(r.status, 403, `${method} ${p} as a member: ${describeResponse(r)}`);
    assert.ok(errorShape(r));
    assert.ok(!r.text.includes(v));
    const anon = await srv.api(method, p, { body, token: null });
    assert.equal(anon.status, 401, `${method} ${p} without a key: ${describeResponse(anon)}`);
  }
  const list = await srv.api('GET', '/v1/secrets');
  assert.ok(!list.json.items.some((i) => i.name === 'm1'), 'the member wrote nothing');
});

test('bad names and bodies are 4xx naming the field, never echoing the value', T, async () => {
  const v = unique('echo');
  const cases = [
    ['/v1/secrets/bad%20name', { value: v }, 422],
    [`/v1/secrets/${'n'.repeat(65)}`, { value: v }, 422],
    ['/v1/secrets/ok', { value: '' }, 400],
    ['/v1/secrets/ok', { value: 42 }, 400],
    ['/v1/secrets/ok', {}, 400],
    ['/v1/secrets/ok', { value: v, extra: v }, 400],
    ['/v1/secrets/ok', { value: 'x'.repeat(64 * 1024 + 1) }, 400],
    ['/v1/secrets/ok', `{"value": "${v}"`, 400],
  ];
  for (const [p, body, want] of cases) {
    const r = await srv.api('PUT', p, { body });
    assert.equal(r.status, want, `PUT ${p}: ${describeResponse(r)}`);
    assert.ok(errorShape(r), describeResponse(r));
    assert.ok(!r.text.includes(v), `PUT ${p}: the error echoes the value: ${r.text}`);
  }
  const big = await put('big', 'b'.repeat(64 * 1024));
  assert.equal(big.status, 201, 'exactly 64 KiB is allowed');
  const none = await srv.api('DELETE', '/v1/secrets/never-written');
  assert.equal(none.status, 404, describeResponse(none));
  const badDel = await srv.api('DELETE', '/v1/secrets/bad%20name');
  assert.equal(badDel.status, 404, describeResponse(badDel));
});

test('a malformed PUT body is refused by position, quoting nothing of it: not the value, not a key, not what follows', T, async () => {
  // short, so that a parser quoting "near '...'" would quote all of it
  const S = `pw_${crypto.randomBytes(5).toString('hex')}`;
  const bodies = [
    `{"value": "${S}`,                     // ends inside the string
    `{"value": "${S}\\q"}`,                 // an invalid escape
    `{"value": ${S}}`,                     // not a JSON token
    `{"value": "${S}\u0001"}`,              // a control character
    `{"value": "x", "value": "${S}"}`,     // a key given twice
    `{"${S}": "x"}`,                       // the value sent as a key
    `{"value": "x", "${S}": 1}`,
    `["${S}"]`,
    `{"value": "x"} ${S}`,                 // data after the value
    `{"value": "x"}\u0000${S}`,             // a NUL, then more
  ];
  for (const text of bodies) {
    const r = await srv.api('PUT', '/v1/secrets/probe', { body: Buffer.from(text, 'utf8') });
    assert.equal(r.status, 400, `${JSON.stringify(text)}: ${describeResponse(r)}`);
    assert.ok(errorShape(r), describeResponse(r));
    assert.ok(!r.text.includes(S) && !r.text.includes(S.slice(0, 5)), `the error quotes the body: ${r.text}`);
    assert.match(r.json.error.message, /^request body: /, describeResponse(r));
  }
  const syntax = await srv.api('PUT', '/v1/secrets/probe', { body: `{"value": ${S}}` });
  assert.match(syntax.json.error.message, /^request body: invalid JSON at line 1, column \d+ \([^'"]+\)$/);
  assert.ok(!srv.tail(1e9).includes(S), "the server's log quotes a body");
  assert.equal((await srv.api('GET', '/v1/secrets')).json.items.some((x) => x.name === 'probe'), false, 'nothing was stored');
});

test('DELETE removes a secret; writes and deletes are audited by name only', T, async () => {
  const v = unique('xoxb');
  assert.equal((await put('slack', v)).status, 201);
  const del = await srv.api('DELETE', '/v1/secrets/slack');
  assert.equal(del.status, 200, describeResponse(del));
  assert.deepEqual(del.json, { name: 'slack', deleted: true });
  const list = await srv.api('GET', '/v1/secrets');
  assert.ok(!list.json.items.some((i) => i.name === 'slack'));

  const rows = await srv.audit();
  const mine = rows.filter((r) => r.type.startsWith('secret.') && r.data.name === 'slack');
  assert.deepEqual(mine.map((r) => r.type), ['secret.written', 'secret.deleted']);
  for (const r of mine) {
    assert.deepEqual(r.data, { name: 'slack' });
    assert.equal(r.actor, 'admin');
  }
});

test('a value under 12 characters is stored with a warning in the answer, the log and the CLI; a longer one without', T, async () => {
  const short = crypto.randomBytes(6).toString('base64url');       // 8 characters
  const r = await put('short_pin', short);
  assert.equal(r.status, 201, describeResponse(r));
  assert.ok(Array.isArray(r.json.warnings) && r.json.warnings.length === 1, describeResponse(r));
  assert.equal(r.json.warnings[0].path, 'value');
  assert.match(r.json.warnings[0].message, /8 characters long, under 12/);
  assert.match(r.json.warnings[0].message, /probed/);
  assert.match(srv.stderr, /secret short_pin was stored with a value of 8 characters, under 12/);
  const eleven = await put('short_pin', unique('x').slice(0, 11));
  assert.equal(eleven.status, 200);
  assert.match(eleven.json.warnings?.[0]?.message ?? '', /11 characters long/, describeResponse(eleven));
  const twelve = await put('short_pin', unique('y').slice(0, 12));
  assert.equal(twelve.status, 200);
  assert.equal(twelve.json.warnings, undefined, `12 characters: no warning: ${describeResponse(twelve)}`);
  // characters, not bytes: 11 two-byte characters are still short
  const wide = 'é'.repeat(11);
  const w = await put('short_wide', wide);
  assert.match(w.json.warnings?.[0]?.message ?? '', /11 characters long/, describeResponse(w));

  const value = crypto.randomBytes(3).toString('hex');              // 6 characters
  written.push(value);
  const set = await cli(['admin', 'secret', 'set', 'short_cli'], { url: srv.url, token: srv.token, input: `${value}\n` });
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /secret short_cli written/);
  assert.match(set.stderr, /warning: value: the value is 6 characters long, under 12/);
  assert.ok(!set.stdout.includes(value) && !set.stderr.includes(value), 'the CLI does not echo the value');
  await srv.api('DELETE', '/v1/secrets/short_wide');
});

// An API that answers with what it was sent: {c: <the query's c>}.
function startEcho() {
  const mounted = echoHub.mount((req, res) => {
    const c = new URL(req.url, 'http://echo').searchParams.get('c');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ c }));
  });
  return { url: mounted.id, close: mounted.close };
}

const ORACLE_WF = `
name: redaction-oracle
steps:
  - id: probe
    http: {url: "{{ $env.DOUBLES }}/{{ .input.echo }}/echo?c={{ .input.guess }}"}
  - id: uses_pin
    http:
      url: "{{ $env.DOUBLES }}/{{ .input.echo }}/echo?c={{ .input.guess }}"
      headers: {X-Pin: "{{ $secrets.oracle_pin }}"}
  - id: uses_other
    http:
      url: "{{ $env.DOUBLES }}/{{ .input.echo }}/echo?c={{ .input.guess }}"
      headers: {X-Key: "{{ $secrets.oracle_other }}"}
`;

test('redaction is no oracle: a step that does not use a secret shows its echo of that value unchanged; a step that uses it still shows ***', T, async () => {
  // Not in `written`: the step that does not use it stores the guess, by design.
  const pin = `9${crypto.randomInt(1e9, 1e10 - 1)}`;        // a short, guessable secret
  assert.equal((await srv.api('PUT', '/v1/secrets/oracle_pin', { body: { value: pin } })).status, 201);
  const other = await srv.api('PUT', '/v1/secrets/oracle_other', { body: { value: unique('other') } });
  assert.equal(other.status, 201, `a new secret: ${describeResponse(other)}`);
  await srv.applyWorkflow(ORACLE_WF);
  const echo = startEcho();
  try {
    for (const guess of [pin, `${pin.slice(0, -1)}x`]) {
      const r = await srv.api('POST', '/v1/runs?wait=30', { body: { workflow: 'redaction-oracle', input: { echo: echo.url, guess } } });
      assert.equal(r.status, 201, describeResponse(r));
      const run = r.json.status === 'completed' ? r.json : await waitRun(srv, r.json.id);
      assert.equal(run.status, 'completed', JSON.stringify(run));
      const out = Object.fromEntries(run.steps.map((st) => [st.id, st.output.body.c]));
      // The probe and the step using another secret cannot tell a right
      // guess from a wrong one: both come back as sent.
      assert.equal(out.probe, guess, `probe: ${JSON.stringify(run.steps[0])}`);
      assert.equal(out.uses_other, guess, `uses_other: ${JSON.stringify(run.steps[2])}`);
      // The step that sends the pin never shows it.
      assert.equal(out.uses_pin, guess === pin ? '***' : guess, `uses_pin: ${JSON.stringify(run.steps[1])}`);
      if (guess === pin) {
        const url = run.steps[1].request?.url ?? '';
        assert.ok(!JSON.stringify(run.steps[1]).includes(pin), 'the step using the pin has no trace of it');
        assert.match(url, /c=\*\*\*/, `its stored request: ${url}`);
        assert.equal(run.steps[1].request.headers['X-Pin'], '***');
        assert.match(run.steps[0].request.url, new RegExp(`c=${pin}$`), "the probe's request is as sent");
      }
    }
  } finally {
    await echo.close();
  }
});

test('no value appears in the audit trail (JSON, JSONL, CSV), the log, or the database file', T, async () => {
  for (const format of ['json', 'jsonl', 'csv']) {
    const r = await srv.api('GET', `/v1/audit?format=${format}`);
    assert.equal(r.status, 200, describeResponse(r));
    assert.ok(r.text.includes('secret.written'), `${format} export has the secret rows`);
    assertNoValue(r.text, `the ${format} audit export`);
  }
  const verify = await srv.api('GET', '/v1/audit/verify');
  assert.equal(verify.json.ok, true, describeResponse(verify));
  assertNoValue(srv.stderr, "the server's log");
  for (const suffix of ['', '-wal', '-shm']) {
    const file = srv.dbPath + suffix;
    if (!fs.existsSync(file)) continue;
    const bytes = fs.readFileSync(file);
    for (const v of written) {
      assert.equal(bytes.indexOf(Buffer.from(v)), -1, `${path.basename(file)} holds a value in plaintext`);
    }
  }
  const keyFile = srv.dbPath + '.key';
  const st = fs.statSync(keyFile);
  assert.equal(st.mode & 0o777, 0o600, 'the key file created at first start is private');
  assert.match(fs.readFileSync(keyFile, 'utf8'), /^[0-9a-f]{64}\n$/);
});

test('after a restart every stored secret still opens with the key file', T, async () => {
  const before = (await srv.api('GET', '/v1/secrets')).json.items.map((i) => i.name);
  await srv.restart();
  // Start-up opens every stored secret and says how many; one that did not
  // open would be logged as altered.
  assert.match(srv.stderr, new RegExp(`master key from key file \\S+ \\(id [0-9a-f]{16}\\), ${before.length} secret`));
  assert.doesNotMatch(srv.stderr, /do not open|cannot be opened/);
  const after = (await srv.api('GET', '/v1/secrets')).json.items.map((i) => i.name);
  assert.deepEqual(after, before);
  const again = await put('stripe', unique('after-restart'));
  assert.equal(again.status, 200, describeResponse(again));
  assertNoValue(srv.stderr, "the server's log after the restart");
});

// Starts another server on the same store with a changed key set-up and
// expects it to refuse to run, saying why.
async function refuses(env, pattern, prepare) {
  await srv.stop();
  const other = new Server({ dir: srv.dir, token: srv.token, env });
  try {
    if (prepare) prepare();
    await assert.rejects(other.start(), (e) => {
      assert.match(e.message, pattern);
      return true;
    });
    assert.notEqual(other.history.at(-1).code, 0);
  } finally {
    await other.stop();
  }
}

test('a wrong, malformed or lost master key, or a readable key file, stops the server', T, async () => {
  const keyFile = srv.dbPath + '.key';
  await refuses({ SPOJIT_MASTER_KEY: crypto.randomBytes(32).toString('hex') },
    /is not the one \d+ of the \d+ stored secrets were written with/);
  await refuses({ SPOJIT_MASTER_KEY: 'not-a-key' }, /SPOJIT_MASTER_KEY: expected a master key of 32 bytes/);
  fs.chmodSync(keyFile, 0o644);
  await refuses({}, /group or others may access it \(mode 0644\).*chmod 600/);
  fs.chmodSync(keyFile, 0o600);
  fs.renameSync(keyFile, keyFile + '.saved');
  await refuses({}, /does not exist, but the store holds \d+ secret/);
  assert.ok(!fs.existsSync(keyFile), 'no new key file was made beside secrets it cannot open');
  fs.renameSync(keyFile + '.saved', keyFile);
  // The same key given through the environment (base64 this time) works.
  const hex = fs.readFileSync(keyFile, 'utf8').trim();
  const viaEnv = new Server({ dir: srv.dir, token: srv.token,
    env: { SPOJIT_MASTER_KEY: Buffer.from(hex, 'hex').toString('base64') } });
  try {
    await viaEnv.start();
    assert.match(viaEnv.stderr, /master key from SPOJIT_MASTER_KEY/);
    await viaEnv.stopClean();
  } finally {
    await viaEnv.stop();
  }
  await srv.start();
});

// Rotation: the old key as the previous one, a new key file made at start.
const ROTATE_WF = `
name: rotate-check
steps:
  - id: call
    http:
      method: POST
      url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"
      auth: {bearer: "{{ $secrets.rot }}"}
      json: {charge: ch_rot, amount: 1}
`;

test('rotating the master key: started with the old key as the previous one, every secret is sealed again under a new key, once, audited; steps still get the values', T, async () => {
  const VALUE = unique('rotated');
  const w = await put('rot', VALUE);
  assert.equal(w.status, 201, `a new secret: ${describeResponse(w)}`);
  await srv.applyWorkflow(ROTATE_WF);
  const count = (await srv.api('GET', '/v1/secrets')).json.items.length;
  // a decision link signed before the rotation (its signing keys are sealed
  // with the master key too)
  const ask = await srv.api('POST', '/v1/approvals', { body: { title: 'rotate?', to: ['user:member1'] } });
  assert.equal(ask.status, 201, describeResponse(ask));
  const link = await srv.api('POST', `/v1/approvals/${ask.json.id}/links`, { body: { user: 'member1', decision: 'approve' } });
  assert.equal(link.status, 201, describeResponse(link));
  const keyFile = srv.dbPath + '.key';
  const oldHex = fs.readFileSync(keyFile, 'utf8').trim();
  const before = (await srv.api('GET', '/v1/audit/verify')).json;
  assert.equal(before.ok, true, JSON.stringify(before));
  await srv.stop();
  fs.renameSync(keyFile, keyFile + '.old');
  // the API is one path segment below $env.DOUBLES (a URL's host is configuration)
  const hub = await startHub();
  const rotating = new Server({ dir: srv.dir, token: srv.token, env: hub.env,
    args: ['--previous-master-key-file', keyFile + '.old', ...hub.args] });
  const sink = await startSink({ apiKey: VALUE, hub });
  try {
    await rotating.start();
    // the link keys and the audit key
    assert.match(rotating.stderr, new RegExp(`${count} secret\\(s\\) and 2 key document\\(s\\) sealed again, from the previous master key \\(id [0-9a-f]{16}`), rotating.tail());
    assert.match(rotating.stderr, new RegExp(`master key from key file \\S+ \\(created\\) \\(id [0-9a-f]{16}\\), ${count} secret`));
    const newHex = fs.readFileSync(keyFile, 'utf8').trim();
    assert.notEqual(newHex, oldHex, 'a new key');
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    const rows = (await rotating.audit()).filter((r) => r.type === 'secrets.rekeyed');
    assert.equal(rows.length, 1);
    assert.equal(rows[0].data.secrets, count);
    assert.equal(rows[0].data.documents, 2);
    // the audit key is the same under its new seal: every hash written
    // before the rotation still verifies, and the rekey row after them
    const after = (await rotating.api('GET', '/v1/audit/verify')).json;
    assert.equal(after.ok, true, JSON.stringify(after));
    assert.equal(after.key_id, before.key_id, 'the same audit key');
    assert.ok(after.rows > before.rows);
    const page = await fetch(rotating.url + link.json.path);
    assert.equal(page.status, 200, 'the link signed before the rotation still verifies');
    assert.match(await page.text(), /Approve this request\?/);
    assert.notEqual(rows[0].data.from_key_id, rows[0].data.to_key_id);
    // a step gets the value, opened with the new key
    const r = await rotating.api('POST', '/v1/runs?wait=30', { body: { workflow: 'rotate-check', input: { sink: sink.id } } });
    assert.equal(r.status, 201, describeResponse(r));
    const run = r.json.status === 'completed' ? r.json : await waitRun(rotating, r.json.id);
    assert.equal(run.status, 'completed', JSON.stringify(run));
    assert.equal(sink.requests.filter((x) => x.outcome === 'applied').length, 1, 'the sink took the bearer');
    assert.ok(!rotating.stderr.includes(VALUE), 'no value in the log');
    await rotating.stopClean();
    // a second start with the same setting has nothing left to do
    await rotating.start();
    assert.match(rotating.stderr, /no secret is sealed with the previous master key/);
    assert.equal((await rotating.audit()).filter((x) => x.type === 'secrets.rekeyed').length, 1);
    await rotating.stopClean();
  } finally {
    await rotating.stop();
    await sink.close();
    await hub.close();
  }
  // the old key alone opens nothing any more; the new key file alone works
  await refuses({ SPOJIT_MASTER_KEY: oldHex }, /is not the one \d+ of the \d+ stored secrets were written with/);
  // giving the current key as the previous one is a mistake, said so
  await refuses({ SPOJIT_PREVIOUS_MASTER_KEY: fs.readFileSync(keyFile, 'utf8').trim() }, /the previous master key is the current one/);
  fs.rmSync(keyFile + '.old');
  await srv.start();
  assert.equal((await srv.api('GET', '/v1/secrets')).json.items.length, count);
});
