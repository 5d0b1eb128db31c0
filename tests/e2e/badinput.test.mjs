// Hostile and broken input: always a 4xx with a JSON error, never a 5xx, and
// the server stays up.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { describeResponse, errorShape, prng, rawRequest, useServer } from './lib/server.mjs';
import { REFUND_YAML, refundInput, startRun, startWaiting, waitRun } from './lib/world.mjs';

const T = { timeout: 300_000 };
const srv = useServer();
let member, approvalId, runId;

before(async () => {
  await srv.applyWorkflow(REFUND_YAML);
  member = await srv.userWithKey('alice', { teams: ['finance'] });
  const starter = await srv.userWithKey('starter');
  ({ approvalId, run: { id: runId } } = await startWaiting(srv, 'refund', refundInput(700), { token: starter }));
}, T);

// r is an error answer {error: {code, message}} with exactly this status.
function is4xx(r, what, code) {
  assert.equal(r.status, code, `${what}: expected ${code}, got ${describeResponse(r)}`);
  assert.ok(errorShape(r), `${what}: expected {error: {code, message}}, got ${describeResponse(r)}`);
}

async function healthy(what) {
  assert.ok(srv.alive, `the server died after ${what}; stderr:\n${srv.tail()}`);
  const r = await srv.api('GET', '/healthz', { token: null });
  assert.equal(r.status, 200, `GET /healthz after ${what}: ${describeResponse(r)}`);
}

const apply = (text, contentType = 'application/yaml') => srv.api('POST', '/v1/workflows', { body: text, contentType });

test('broken YAML is refused with 400 and a message naming the line', T, async () => {
  const text = 'name: broken\nsteps:\n  - id: a\n    transform: ".input"\n  - id: b\n   transform: [unclosed\n';
  const r = await apply(text);
  is4xx(r, 'broken YAML', 400);
  assert.match(r.json.error.message, /line\s*\d+/i, `the message names the line: ${r.json.error.message}`);
  const r2 = await apply('name: x\nsteps: [\n  {id: a, transform: ".",\n');
  is4xx(r2, 'unterminated flow sequence', 400);
  assert.match(r2.json.error.message, /line\s*\d+/i);
  await healthy('broken YAML');
});

test('unknown step references are all listed in error.details with path, line and column', T, async () => {
  const text = `name: refs
steps:
  - id: a
    transform: '.input'
    next: nowhere_one
  - id: b
    switch:
      - {when: '.input.x', next: nowhere_two}
      - {next: a}
  - id: c
    approval:
      to: [user:someone]
    on_reject: nowhere_three
    transform: '.proposal'
`;
  const r = await apply(text);
  is4xx(r, 'unknown step references', 422);
  const details = r.json.error.details;
  assert.ok(Array.isArray(details), `details is a list: ${r.text}`);
  for (const name of ['nowhere_one', 'nowhere_two', 'nowhere_three']) {
    const d = details.find((x) => String(x.message).includes(name));
    assert.ok(d, `${name} is reported: ${JSON.stringify(details)}`);
    assert.equal(typeof d.path, 'string');
    assert.ok(Number.isInteger(d.line) && d.line > 0, `${name} has a line: ${JSON.stringify(d)}`);
    assert.ok(Number.isInteger(d.column) && d.column > 0, `${name} has a column: ${JSON.stringify(d)}`);
  }
  assert.equal(details.find((x) => x.message.includes('nowhere_one')).line, 5);
  assert.equal(details.find((x) => x.message.includes('nowhere_three')).line, 13);
  const list = await srv.api('GET', '/v1/workflows/refs');
  assert.equal(list.status, 404, 'an invalid workflow is not stored');
});

test('a jq expression that does not compile is refused at apply time with its path', T, async () => {
  const r = await apply("name: badjq\nsteps:\n  - id: a\n    transform: '.input | (( '\n");
  is4xx(r, 'bad jq', 422);
  assert.ok(r.json.error.details.some((d) => d.path.includes('steps[0].transform') && d.line === 4), JSON.stringify(r.json.error.details));
  const t = await apply("name: badtpl\nsteps:\n  - id: a\n    approval:\n      title: 'x {{ .foo | }} y'\n      to: [user:x]\n");
  is4xx(t, 'bad template', 422);
  assert.ok(t.json.error.details.some((d) => d.path.includes('title')), JSON.stringify(t.json.error.details));
});

test('duplicate step ids are refused', T, async () => {
  const r = await apply("name: dup\nsteps:\n  - id: a\n    transform: '.'\n  - id: a\n    transform: '.'\n");
  is4xx(r, 'duplicate step ids', 422);
  assert.ok(r.json.error.details.some((d) => d.path.startsWith('steps[') && /duplicate|already|unique/i.test(d.message)),
    `a problem names the duplicate: ${JSON.stringify(r.json.error.details)}`);
});

test('bad durations such as "4 hours" are refused; all problems of one document come back together', T, async () => {
  const text = `name: durs
steps:
  - id: a
    approval:
      to: [user:x]
      timeout: 4 hours
      escalate: [{after: 4y, to: [user:y]}]
    next: nope
`;
  const r = await apply(text);
  is4xx(r, 'bad durations', 422);
  const d = r.json.error.details;
  assert.ok(d.some((x) => x.path.endsWith('timeout') && x.message.includes('4 hours')), JSON.stringify(d));
  assert.ok(d.some((x) => x.path.includes('escalate') && x.message.includes('4y')), JSON.stringify(d));
  assert.ok(d.some((x) => x.message.includes('nope')), JSON.stringify(d));
  assert.ok(d.length >= 3);
});

test('wrong JSON types and truncated JSON on POST /v1/runs are 400 (404 for an unknown workflow, 422 against the schema)', T, async () => {
  const cases = [
    [{ workflow: 5 }, 'workflow: 5'],
    [{ workflow: 'refund', input: 'text' }, 'input: string'],
    [{ workflow: 'refund', input: refundInput(10), version: 'one' }, 'version: string'],
    [{ workflow: ['refund'] }, 'workflow: list'],
    [[], 'a list'],
    ['"refund"', 'a string'],
    ['null', 'null'],
    ['', 'empty body'],
    ['{"workflow": "refund", "input": {"amount": 1', 'truncated JSON'],
    ['{"workflow": "refund",}', 'trailing comma'],
    ['{"workflow": "refund"}{"workflow": "refund"}', 'two documents'],
    ['{"workflow": "ref\u0000und"}', 'a NUL'],
    [Buffer.from([0x7b, 0x22, 0x77, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), 'invalid UTF-8'],
    [{ workflow: 'nope-no-such', input: {} }, 'unknown workflow', 404],
    [{ workflow: 'refund', input: { amount: -5 } }, 'input against the schema', 422],
  ];
  // 400 for what does not parse or has the wrong shape (docs/api: bad_input),
  // 404 for a workflow that does not exist, 422 for input the schema refuses
  for (const [body, what, code = 400] of cases) {
    const r = await srv.api('POST', '/v1/runs', { body });
    is4xx(r, `POST /v1/runs with ${what}`, code);
  }
  const schema = await srv.api('POST', '/v1/runs', { body: { workflow: 'refund', input: { amount: -5 } } });
  assert.equal(schema.status, 422);
  assert.ok(Array.isArray(schema.json.error.details) && schema.json.error.details.length >= 2, schema.text);
  await healthy('wrong types');
});

test('a JSON body is the value and white space only: a NUL byte or data after the value is 400 naming where; a trailing newline is fine', T, async () => {
  const post = (text) => srv.api('POST', '/v1/teams', { body: Buffer.from(text, 'latin1') });
  const nul = await post('{"name":"nul-team"}\0garbage');
  is4xx(nul, 'a NUL and garbage after the value', 400);
  assert.equal(nul.json.error.message, 'request body: a NUL byte at line 1, column 20 (byte 20)');
  const nulOnly = await post('{"name":"nul-team"}\0');
  is4xx(nulOnly, 'a NUL after the value', 400);
  const inside = await post('{"name":"nul\0team"}');
  is4xx(inside, 'a NUL inside a string', 400);
  assert.match(inside.json.error.message, /a NUL byte at line 1, column 13/);
  const garbage = await post('{"name":"tail-team"} garbage');
  is4xx(garbage, 'garbage after the value', 400);
  assert.equal(garbage.json.error.message, 'request body: unexpected data after the JSON value at line 1, column 22 (byte 22)');
  const second = await post('{"name":"two-team"}\n{"name":"other-team"}');
  is4xx(second, 'a second value', 400);
  assert.match(second.json.error.message, /after the JSON value at line 2, column 1/);
  // none of them made a team: each name is still free
  for (const name of ['nul-team', 'tail-team', 'two-team', 'other-team']) {
    const r = await srv.api('POST', '/v1/teams', { body: { name } });
    assert.equal(r.status, 201, `${name} was taken by a refused body: ${describeResponse(r)}`);
  }
  const ok = await post('{"name":"nl-team"}\r\n');
  assert.equal(ok.status, 201, `white space after the value: ${describeResponse(ok)}`);
  // a workflow definition is text: a NUL is named where it is, in YAML and JSON alike
  const yaml = await apply(Buffer.from('name: nul\nsteps:\n  - id: a\n    transform: ".input"\n\0garbage', 'latin1'));
  is4xx(yaml, 'a YAML definition with a NUL', 400);
  assert.equal(yaml.json.error.message, 'request body: a NUL byte at line 5, column 1 (byte 52); a definition is text');
  const json = await apply('{"name":"j","steps":[{"id":"a","transform":".input"}]} x', 'application/json');
  is4xx(json, 'a JSON definition with data after it', 400);
  assert.match(json.json.error.message, /unexpected data after the JSON value at line 1, column 56/);
  await healthy('bodies with a NUL or data after the value');
});

test('100,000-deep nesting to POST /v1/runs and POST /v1/workflows is refused without a crash', T, async () => {
  const deepOpen = '['.repeat(100_000);
  const deepBalanced = deepOpen + ']'.repeat(100_000);
  const deepObj = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
  const inInput = '{"workflow":"refund","input":' + deepBalanced + '}';
  for (const [p, ct, body, what] of [
    ['/v1/runs', 'application/json', deepOpen, 'unbalanced ['],
    ['/v1/runs', 'application/json', deepBalanced, 'balanced []'],
    ['/v1/runs', 'application/json', inInput, 'deep input'],
    ['/v1/runs', 'application/json', deepObj, 'deep objects'],
    ['/v1/workflows', 'application/json', deepOpen, 'unbalanced ['],
    ['/v1/workflows', 'application/json', deepBalanced, 'balanced []'],
    ['/v1/workflows', 'application/json', deepObj, 'deep objects'],
    ['/v1/workflows', 'application/yaml', deepBalanced, 'balanced [] as YAML'],
    ['/v1/workflows', 'application/yaml', '- '.repeat(50_000) + 'x', 'deep block sequence as YAML'],
    [`/v1/approvals/${approvalId}/decisions`, 'application/json', deepBalanced, 'deep decision'],
  ]) {
    const r = await srv.api('POST', p, { body, contentType: ct });
    is4xx(r, `${p} with ${what}`, 400);      // deeper than SP_JSON_MAX_DEPTH: bad_input
  }
  await healthy('deep nesting');
});

test('a 20 MB body gets 413', T, async () => {
  const big = Buffer.alloc(20 * 1024 * 1024, 0x20);
  big[0] = 0x5b; // '['
  for (const p of ['/v1/runs', '/v1/workflows']) {
    const r = await rawRequest(srv.url, {
      path: p, body: big,
      headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' },
    });
    assert.equal(r.status, 413, `POST ${p} with 20 MB: ${r.head}\n${r.text.slice(0, 300)}`);
    if (r.complete) assert.ok(r.json?.error?.code, `413 body: ${r.text.slice(0, 300)}`);
  }
  // a body without a declared length (chunked) is refused too
  const chunkedBody = [];
  for (let i = 0; i < 20; i++) chunkedBody.push(Buffer.from('100000\r\n'), Buffer.alloc(0x100000, 0x20), Buffer.from('\r\n'));
  chunkedBody.push(Buffer.from('0\r\n\r\n'));
  const c = await rawRequest(srv.url, {
    path: '/v1/runs',
    body: Buffer.concat(chunkedBody),
    headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'content-length': null },
  });
  assert.equal(c.status, 413, `chunked 20 MB: ${c.head}`);
  await healthy('20 MB bodies');
});

test('seeded random bytes to every POST endpoint give 4xx JSON errors, never 5xx', T, async () => {
  const rnd = prng(0x5b0_1e7);
  const sizes = [];
  for (let i = 0; i < 50; i++) {
    const k = rnd();
    sizes.push(k < 0.2 ? Math.floor(rnd() * 16) : k < 0.7 ? Math.floor(rnd() * 1024) : Math.floor(rnd() * 64 * 1024));
  }
  const payloads = sizes.map((n, i) => {
    const b = Buffer.alloc(n);
    // a third start like JSON, so the parsers get past the first byte
    for (let j = 0; j < n; j++) b[j] = Math.floor(rnd() * 256);
    if (i % 3 === 0 && n > 0) b[0] = 0x7b;
    if (i % 3 === 1 && n > 1) { b[0] = 0x5b; b[1] = 0x7b; }
    return b;
  });
  const targets = [
    ['POST', '/v1/workflows', 'application/yaml'],
    ['POST', '/v1/workflows', 'application/json'],
    ['POST', '/v1/runs', 'application/json'],
    ['POST', '/v1/runs/run_does_not_exist/cancel', 'application/json'],
    ['POST', '/v1/approvals', 'application/json'],
    ['POST', `/v1/approvals/${approvalId}/decisions`, 'application/json'],
    ['POST', `/v1/approvals/${approvalId}/reassign`, 'application/json'],
    ['POST', '/v1/users', 'application/json'],
    ['POST', '/v1/teams', 'application/json'],
    ['POST', '/v1/keys', 'application/json'],
    ['POST', '/v1/session', 'application/json'],
    ['PUT', '/v1/secrets/fuzz', 'application/json'],
  ];
  for (const [method, p, ct] of targets) {
    const bad = [];
    for (let i = 0; i < payloads.length; i += 5) {
      const batch = payloads.slice(i, i + 5);
      const rs = await Promise.all(batch.map((b) => srv.api(method, p, { body: b, contentType: ct })));
      rs.forEach((r, j) => {
        if (!(r.status >= 400 && r.status < 500) || !errorShape(r)) bad.push(`payload ${i + j} (${batch[j].length} bytes): ${describeResponse(r)}`);
      });
    }
    assert.deepEqual(bad, [], `${method} ${p} (${ct}) with random bytes`);
    await healthy(`random bytes to ${method} ${p}`);
  }
  // the gate the decisions were aimed at is untouched
  const g = await srv.api('GET', `/v1/approvals/${approvalId}`);
  assert.equal(g.json.status, 'pending');
  assert.deepEqual(g.json.decisions, []);
  const run = await srv.api('GET', `/v1/runs/${runId}`);
  assert.equal(run.json.status, 'waiting');
});

test('unknown routes are 404, wrong methods 405, missing or wrong tokens 401, a member on an admin endpoint 403', T, async () => {
  for (const p of ['/v1/nope', '/v1/runs/run_x/nope', '/nope/at/all', '/v2/runs']) {
    const r = await srv.api('GET', p);
    is4xx(r, `GET ${p}`, 404);
  }
  for (const [m, p] of [['DELETE', '/v1/runs'], ['PUT', '/v1/approvals'], ['GET', `/v1/approvals/${approvalId}/decisions`], ['PATCH', '/v1/workflows'], ['PUT', '/v1/audit/verify'], ['POST', '/v1/audit/head'], ['DELETE', '/healthz']]) {
    const r = await srv.api(m, p);
    is4xx(r, `${m} ${p}`, 405);
  }
  for (const p of ['/v1/runs', '/v1/approvals', '/v1/audit/verify', '/v1/workflows']) {
    const none = await srv.api('GET', p, { token: null });
    is4xx(none, `GET ${p} without a token`, 401);
    const wrong = await srv.api('GET', p, { token: 'spk_' + 'A'.repeat(43) });
    is4xx(wrong, `GET ${p} with a wrong token`, 401);
    const junk = await srv.api('GET', p, { headers: { authorization: 'Basic Zm9vOmJhcg==' }, token: null });
    is4xx(junk, `GET ${p} with a Basic header`, 401);
  }
  const noAuthPost = await srv.api('POST', `/v1/approvals/${approvalId}/decisions`, { token: null, body: { decision: 'approve' } });
  is4xx(noAuthPost, 'a decision without a token', 401);
  for (const [p, body] of [
    ['/v1/users', { name: 'mallory', password: 'xxxxxxxx', role: 'admin' }],
    ['/v1/teams', { name: 'evil' }],
    ['/v1/keys', { user: 'alice', scope: 'admin' }],
  ]) {
    const r = await srv.api('POST', p, { token: member, body });
    is4xx(r, `member POST ${p}`, 403);
  }
  const wf = await srv.api('POST', '/v1/workflows', { token: member, body: REFUND_YAML.replace('name: refund', 'name: sneaky'), contentType: 'application/yaml' });
  is4xx(wf, 'member applying a workflow', 403);
  const short = await srv.api('POST', '/v1/users', { body: { name: 'mallory', password: 'x' } });
  is4xx(short, 'a one-character password', 422);
  assert.match(short.json.error.message, /password: at least 8 characters/);
  const users = await srv.api('POST', '/v1/users', { body: { name: 'mallory', password: 'correct horse' } });
  assert.equal(users.status, 201, 'mallory was not created by the refused request, so the admin can create her now');
  await healthy('auth checks');
});

test('a value nested hundreds of thousands of levels deep: measured inside jq the step completes, given back as its result the step fails; the server lives on', T, async () => {
  await srv.applyWorkflow(`
name: deep-values
steps:
  - id: build
    transform: 'reduce range(.input.n) as $i (null; [.]) | length'
`);
  await srv.applyWorkflow(`
name: deep-result
steps:
  - id: build
    transform: 'reduce range(.input.n) as $i (null; [.])'
`);
  // freed inside jq (recursively) before the step ends
  const a = await startRun(srv, 'deep-values', { n: 300000 });
  const ra = a.status === 'running' ? await waitRun(srv, a.id) : a;
  // (jq recurses on the engine thread's large stack: the value is built and
  // measured, and the step completes)
  assert.equal(ra.status, 'completed', JSON.stringify(ra));
  assert.equal(ra.output, 1, 'length of the outermost one-element array');
  // given back as the result: refused as too deep
  const b = await startRun(srv, 'deep-result', { n: 300000 });
  const rb = b.status === 'running' ? await waitRun(srv, b.id) : b;
  assert.equal(rb.status, 'failed', JSON.stringify(rb));
  assert.match(JSON.stringify(rb.error), /nested deeper than 256 levels|longer than/);
  assert.ok(srv.alive, 'the server is still running');
  assert.equal((await srv.api('GET', '/healthz')).status, 200);
});

test('path expressions (paths, |=) taken for their first output, failing, or stopped by the time limit leave the server running', T, async () => {
  await srv.applyWorkflow(`
name: pathy
steps:
  - id: first
    transform: 'paths'
  - id: runaway
    transform: 'paths(def f: f; f)'
    on_error: failing
  - id: failing
    transform: '.input |= error("boom")'
    on_error: after
  - id: after
    transform: '[paths] | length'
`);
  for (let i = 0; i < 2; i++) {
    const r = await startRun(srv, 'pathy', { a: { b: 1 } });
    const run = r.status === 'running' ? await waitRun(srv, r.id) : r;
    assert.equal(run.status, 'completed', JSON.stringify(run));
    const step = (id) => run.steps.find((s) => s.id === id);
    assert.deepEqual(step('first').output, ['input']);
    assert.match(step('runaway').error.message, /longer than 1000 ms/);
    assert.equal(step('failing').error.message, 'boom');
    assert.ok(step('after').output > 1);
  }
  assert.ok(srv.alive, 'the server is still running');
});
