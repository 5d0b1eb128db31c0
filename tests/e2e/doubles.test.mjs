// The test doubles themselves (tests/e2e/lib/doubles.mjs): the Stripe-like
// sink and the OpenAI-compatible chat server must behave exactly as the
// http and agent tests assume. No spojit server is involved.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';

import { parseForm, startChat, startSink } from './lib/doubles.mjs';

const T = { timeout: 30_000 };
const toClose = [];
after(async () => { await Promise.all(toClose.map((s) => s.close())); });

async function sink(opts) {
  const s = await startSink(opts);
  toClose.push(s);
  return s;
}
async function chat(opts) {
  const c = await startChat(opts);
  toClose.push(c);
  return c;
}

async function call(base, method, p, { json, form, headers = {}, signal } = {}) {
  const h = { ...headers };
  let body;
  if (json !== undefined) { body = JSON.stringify(json); h['content-type'] = 'application/json'; }
  if (form !== undefined) { body = new URLSearchParams(form).toString(); h['content-type'] = 'application/x-www-form-urlencoded'; }
  const r = await fetch(base + p, { method, headers: h, body, signal });
  const text = await r.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch { /* text */ }
  return { status: r.status, headers: r.headers, text, json: parsed };
}

test('sink: the first request with an Idempotency-Key is applied, a repeat is replayed, not applied again', T, async () => {
  const s = await sink();
  const a = await call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1', amount: 612 }, headers: { 'Idempotency-Key': 'k1' } });
  assert.equal(a.status, 200, a.text);
  assert.deepEqual({ id: a.json.id, object: a.json.object, amount: a.json.amount, charge: a.json.charge, status: a.json.status },
    { id: 're_1', object: 'refund', amount: 612, charge: 'ch_1', status: 'succeeded' });
  assert.equal(a.headers.get('idempotent-replayed'), null);

  // the same parameters, this time form-encoded as Stripe's own clients send them
  const b = await call(s.url, 'POST', '/v1/refunds', { form: { amount: '612', charge: 'ch_1' }, headers: { 'Idempotency-Key': 'k1' } });
  assert.equal(b.status, 200, b.text);
  assert.equal(b.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(b.json, a.json, 'the stored response, byte for byte the same refund');

  assert.equal(s.refunds.length, 1);
  assert.deepEqual([...s.applied()], [['k1', 1]]);
  assert.deepEqual(s.requests.map((r) => r.outcome), ['applied', 'replayed']);
  const [r0, r1] = s.requests;
  assert.equal(r0.method, 'POST');
  assert.equal(r0.path, '/v1/refunds');
  assert.equal(r0.headers['idempotency-key'], 'k1', 'header names are lower-case');
  assert.equal(r0.raw, '{"charge":"ch_1","amount":612}');
  assert.deepEqual(r0.body, { charge: 'ch_1', amount: 612 });
  assert.deepEqual(r1.body, { amount: '612', charge: 'ch_1' });
  assert.equal(typeof r0.at, 'number');
});

test('sink: the same key with other parameters is 400 idempotency_error and changes nothing', T, async () => {
  const s = await sink();
  await call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1', amount: 100 }, headers: { 'idempotency-key': 'k' } });
  const r = await call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1', amount: 101 }, headers: { 'idempotency-key': 'k' } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error.type, 'idempotency_error');
  assert.match(r.json.error.message, /same parameters/);
  assert.equal(s.refunds.length, 1);
  assert.equal(s.applied().get('k'), 1);
  assert.equal(s.requests[1].outcome, 'idempotency_mismatch');
});

test('sink: without an Idempotency-Key every request is applied', T, async () => {
  const s = await sink();
  for (let i = 0; i < 3; i++) {
    const r = await call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1', amount: 5 } });
    assert.equal(r.status, 200);
    assert.equal(r.json.id, `re_${i + 1}`);
  }
  assert.equal(s.refunds.length, 3);
  assert.equal(s.applied().size, 0, 'applied() counts keyed requests only');
});

test('sink: a request with a key still being processed gets 409; once done, the key replays', T, async () => {
  const s = await sink({ delayMs: 400 });
  const body = { charge: 'ch_9', amount: 9 };
  const first = call(s.url, 'POST', '/v1/refunds', { json: body, headers: { 'idempotency-key': 'slow' } });
  while (s.inflight === 0) await new Promise((r) => setTimeout(r, 5));
  const t0 = Date.now();
  const second = await call(s.url, 'POST', '/v1/refunds', { json: body, headers: { 'idempotency-key': 'slow' } });
  assert.ok(Date.now() - t0 < 300, 'the 409 does not wait for the first request');
  assert.equal(second.status, 409, second.text);
  assert.equal(second.json.error.type, 'idempotency_error');
  assert.equal(second.json.error.code, 'idempotency_key_in_use');
  const a = await first;
  assert.equal(a.status, 200);
  assert.equal(s.inflight, 0);
  const third = await call(s.url, 'POST', '/v1/refunds', { json: body, headers: { 'idempotency-key': 'slow' } });
  assert.equal(third.status, 200);
  assert.equal(third.headers.get('idempotent-replayed'), 'true');
  assert.equal(s.applied().get('slow'), 1);
});

test('sink: the work goes on when the client hangs up, and a later retry with the key replays it', T, async () => {
  const s = await sink({ delayMs: 300 });
  const body = { charge: 'ch_2', amount: 20 };
  await assert.rejects(call(s.url, 'POST', '/v1/refunds',
    { json: body, headers: { 'idempotency-key': 'gone' }, signal: AbortSignal.timeout(100) }));
  while (s.inflight > 0) await new Promise((r) => setTimeout(r, 10));
  assert.equal(s.requests[0].outcome, 'applied');
  const again = await call(s.url, 'POST', '/v1/refunds', { json: body, headers: { 'idempotency-key': 'gone' } });
  assert.equal(again.status, 200);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.equal(s.applied().get('gone'), 1);
});

test('sink: a failure script is consumed in order before normal answers, with Retry-After, and leaves the key alone', T, async () => {
  const s = await sink({
    script: {
      '/v1/refunds': [{ status: 503 }, { status: 429, retryAfter: 2 }, { status: 422, body: { error: { type: 'card_error', message: 'no' } } }],
      '/v1/charges/ch_7': [{ status: 500 }],
    },
  });
  const post = () => call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_7', amount: 7 }, headers: { 'idempotency-key': 'k7' } });
  const a = await post();
  assert.equal(a.status, 503);
  assert.equal(a.json.error.type, 'api_error');
  const b = await post();
  assert.equal(b.status, 429);
  assert.equal(b.headers.get('retry-after'), '2');
  assert.equal(b.json.error.type, 'rate_limit_error');
  const c = await post();
  assert.equal(c.status, 422);
  assert.deepEqual(c.json, { error: { type: 'card_error', message: 'no' } });
  assert.equal(s.pending(), 0);
  const d = await post();
  assert.equal(d.status, 200, 'the key was not used up by the scripted failures');
  assert.equal(d.headers.get('idempotent-replayed'), null);
  assert.equal(s.applied().get('k7'), 1);
  assert.deepEqual(s.requests.map((r) => r.outcome), ['scripted', 'scripted', 'scripted', 'applied']);

  // another path has its own queue
  assert.equal((await call(s.url, 'GET', '/v1/charges/ch_7')).status, 500);
  const ch = await call(s.url, 'GET', '/v1/charges/ch_7');
  assert.equal(ch.status, 200);
  assert.equal(ch.json.amount_refunded, 7);

  s.enqueue([{ status: 502 }]);
  assert.equal((await post()).status, 502, 'enqueue adds to the queue later');
});

test("sink: 'hang' never answers (the client times out) and close() still ends it", T, async () => {
  const s = await startSink({ script: ['hang'] });   // closed by hand below
  const t0 = Date.now();
  await assert.rejects(call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1' }, signal: AbortSignal.timeout(400) }),
    (e) => e.name === 'TimeoutError' || e.name === 'AbortError');
  assert.ok(Date.now() - t0 >= 350);
  assert.equal(s.requests[0].outcome, 'hang');
  assert.equal(s.refunds.length, 0);
  const ok = await call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1' } });
  assert.equal(ok.status, 200, 'normal answers after the script');

  // a hanging request does not keep close() waiting
  s.enqueue(['hang']);
  const pending = new Promise((resolve) => {
    const req = http.request(`${s.url}/v1/refunds`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    req.on('error', (e) => resolve(e));
    req.on('response', () => resolve(new Error('answered')));
    req.end('{"charge":"ch_1"}');
  });
  while (s.requests.length < 3) await new Promise((r) => setTimeout(r, 5));
  const c0 = Date.now();
  await s.close();
  assert.ok(Date.now() - c0 < 2000, 'close() is quick');
  const err = await pending;
  assert.notEqual(err.message, 'answered');
});

test("sink: 'reset' drops the connection without an answer", T, async () => {
  const s = await sink({ script: ['reset'] });
  await assert.rejects(call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1' } }), (e) => {
    const code = e.cause?.code || '';
    assert.ok(['ECONNRESET', 'UND_ERR_SOCKET'].includes(code), `a socket error, got ${code} ${e.cause?.message}`);
    return true;
  });
  assert.equal(s.requests[0].outcome, 'reset');
  assert.equal(s.refunds.length, 0);
  assert.equal((await call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1' } })).status, 200);
});

test("sink: while a 'reset' is next, answers close their connection, so the reset meets a fresh one", T, async () => {
  const s = await sink({ script: [{ status: 503 }, 'reset'] });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () => new Promise((resolve, reject) => {
    const req = http.request(`${s.url}/v1/refunds`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection, reused: req.reusedSocket }));
    });
    req.on('error', (e) => resolve({ error: e.code, reused: req.reusedSocket }));
    req.end('{"charge":"ch_1"}');
  });
  try {
    assert.deepEqual(await get(), { status: 503, connection: 'close', reused: false });
    assert.deepEqual(await get(), { error: 'ECONNRESET', reused: false }, 'the reset is seen on a fresh connection');
    assert.deepEqual(await get(), { status: 200, connection: 'keep-alive', reused: false });
    assert.deepEqual(await get(), { status: 200, connection: 'keep-alive', reused: true }, 'keep-alive otherwise');
  } finally {
    agent.destroy();
  }
});

test('sink: GET a refund and a charge; unknown ones are 404 resource_missing; bad requests are 400', T, async () => {
  const s = await sink({ charges: { ch_big: { amount: 5000, customer: 'cus_1' } } });
  const made = await call(s.url, 'POST', '/v1/refunds?expand=charge',
    { form: { charge: 'ch_big', amount: '1200', 'metadata[ticket]': 'T-1' } });
  assert.equal(made.status, 200);
  assert.deepEqual(made.json.metadata, { ticket: 'T-1' });
  assert.deepEqual(s.requests[0].query, { expand: 'charge' });
  const got = await call(s.url, 'GET', `/v1/refunds/${made.json.id}`);
  assert.deepEqual(got.json, made.json);
  const ch = await call(s.url, 'GET', '/v1/charges/ch_big');
  assert.equal(ch.json.object, 'charge');
  assert.equal(ch.json.amount, 5000);
  assert.equal(ch.json.amount_refunded, 1200);
  assert.equal(ch.json.customer, 'cus_1');
  assert.equal(ch.json.refunds.data[0].id, made.json.id);
  const missing = await call(s.url, 'GET', '/v1/refunds/re_404');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.code, 'resource_missing');
  assert.equal((await call(s.url, 'GET', '/v1/charges/nope')).status, 404);

  const noCharge = await call(s.url, 'POST', '/v1/refunds', { json: { amount: 5 }, headers: { 'idempotency-key': 'bad' } });
  assert.equal(noCharge.status, 400);
  assert.equal(noCharge.json.error.type, 'invalid_request_error');
  const fixed = await call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1', amount: 5 }, headers: { 'idempotency-key': 'bad' } });
  assert.equal(fixed.status, 200, 'a refused (invalid) request does not bind its key');
  const badAmount = await call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1', amount: 'lots' } });
  assert.equal(badAmount.status, 400);
  const badJson = await fetch(`${s.url}/v1/refunds`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
  assert.equal(badJson.status, 400);
  const text = await fetch(`${s.url}/v1/refunds`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'charge=ch_1' });
  assert.equal(text.status, 400);
  assert.equal((await call(s.url, 'DELETE', '/v1/refunds')).status, 404);
});

test('sink: with apiKey, a bearer or Stripe-style basic key is required', T, async () => {
  const s = await sink({ apiKey: 'sk_test_123' });
  const none = await call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1' } });
  assert.equal(none.status, 401);
  assert.equal(none.json.error.type, 'invalid_request_error');
  const wrong = await call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1' }, headers: { authorization: 'Bearer sk_test_999' } });
  assert.equal(wrong.status, 401);
  const bearer = await call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1' }, headers: { authorization: 'Bearer sk_test_123' } });
  assert.equal(bearer.status, 200);
  const basic = await call(s.url, 'GET', '/v1/charges/ch_1',
    { headers: { authorization: `Basic ${Buffer.from('sk_test_123:').toString('base64')}` } });
  assert.equal(basic.status, 200);
  assert.equal(s.requests[0].outcome, 'unauthorized');
  assert.equal(s.refunds.length, 1);
});

test('sink: onRequest sees each request as it arrives', T, async () => {
  const seen = [];
  const s = await sink({ delayMs: 200, onRequest: (r) => seen.push([r.n, r.outcome, s.inflight]) });
  await call(s.url, 'POST', '/v1/refunds', { json: { charge: 'ch_1' }, headers: { 'idempotency-key': 'x' } });
  assert.deepEqual(seen, [[1, null, 0]], 'called before the request is processed');
});

test('parseForm reads Stripe bracket notation', () => {
  assert.deepEqual(parseForm('a=1&m[x]=2&m[y][z]=3&l[]=4&l[]=5&e='), { a: '1', m: { x: '2', y: { z: '3' } }, l: ['4', '5'], e: '' });
});

test('chat: answers from the script in order: tool calls with ids and reasoning, then text', T, async () => {
  const c = await chat({
    script: [
      { tool_calls: [{ name: 'get_charge', arguments: { id: 'ch_1' } }], content: 'Look at the charge first.' },
      { tool_calls: [{ name: 'issue_refund', arguments: { charge: 'ch_1', amount: 612 } }, { name: 'note', arguments: '{"t":1}' }] },
      { content: 'Done.' },
    ],
  });
  const ask = (messages, extra = {}) => call(c.url, 'POST', '/v1/chat/completions', { json: { model: 'gpt-4o', messages, ...extra } });
  const a = await ask([{ role: 'user', content: 'refund ch_1' }], { tools: [{ type: 'function', function: { name: 'get_charge' } }] });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.json.object, 'chat.completion');
  assert.equal(a.json.model, 'gpt-4o');
  const [choice] = a.json.choices;
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.role, 'assistant');
  assert.equal(choice.message.content, 'Look at the charge first.');
  assert.equal(choice.message.tool_calls.length, 1);
  const tc = choice.message.tool_calls[0];
  assert.equal(tc.type, 'function');
  assert.match(tc.id, /^call_\w+$/);
  assert.equal(tc.function.name, 'get_charge');
  assert.equal(typeof tc.function.arguments, 'string', 'arguments are a JSON string, as OpenAI sends them');
  assert.deepEqual(JSON.parse(tc.function.arguments), { id: 'ch_1' });
  assert.equal(typeof a.json.usage.total_tokens, 'number');

  const b = await ask([{ role: 'user', content: 'refund ch_1' }, choice.message,
    { role: 'tool', tool_call_id: tc.id, content: '{"amount": 1000}' }]);
  const m2 = b.json.choices[0].message;
  assert.equal(m2.content, null, 'no reasoning text unless scripted');
  assert.deepEqual(m2.tool_calls.map((t) => t.function.name), ['issue_refund', 'note']);
  assert.notEqual(m2.tool_calls[0].id, m2.tool_calls[1].id, 'each call has its own id');
  assert.equal(m2.tool_calls[1].function.arguments, '{"t":1}');
  assert.deepEqual(JSON.parse(m2.tool_calls[0].function.arguments), { charge: 'ch_1', amount: 612 });

  const d = await ask([{ role: 'user', content: 'approver said: make it 550' }]);
  assert.equal(d.json.choices[0].finish_reason, 'stop');
  assert.deepEqual(d.json.choices[0].message, { role: 'assistant', content: 'Done.' });

  const e = await ask([{ role: 'user', content: 'more?' }]);
  assert.equal(e.status, 500, 'a used-up script is a server error');
  assert.equal(e.json.error.type, 'server_error');

  assert.equal(c.requests.length, 4);
  assert.equal(c.requests[1].messages[2].role, 'tool');
  assert.equal(c.requests[1].messages[2].tool_call_id, tc.id);
  assert.equal(c.requests[2].messages[0].content, 'approver said: make it 550');
  assert.equal(c.remaining(), 0);
});

test('chat: with apiKey a missing or wrong bearer is 401 in OpenAI\'s error shape and uses no script entry', T, async () => {
  const c = await chat({ apiKey: 'sk-chat-1', script: [{ content: 'hi' }] });
  const body = { model: 'm', messages: [{ role: 'user', content: 'x' }] };
  const none = await call(c.url, 'POST', '/v1/chat/completions', { json: body });
  assert.equal(none.status, 401);
  assert.equal(none.json.error.type, 'invalid_request_error');
  assert.ok('param' in none.json.error && 'code' in none.json.error);
  const wrong = await call(c.url, 'POST', '/v1/chat/completions', { json: body, headers: { authorization: 'Bearer sk-wrong-key' } });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.error.code, 'invalid_api_key');
  assert.ok(!wrong.text.includes('sk-wrong-key'), 'the key is not echoed whole');
  assert.equal(c.requests.length, 0);
  const ok = await call(c.url, 'POST', '/v1/chat/completions', { json: body, headers: { authorization: 'Bearer sk-chat-1' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.choices[0].message.content, 'hi');
  assert.equal(c.log.length, 3);
  assert.equal(c.log[2].headers.authorization, 'Bearer sk-chat-1');
});

test('chat: scripted errors, bad bodies and unknown paths', T, async () => {
  const c = await chat({ script: [{ status: 429 }, { content: 'after', delayMs: 50 }] });
  const body = { messages: [{ role: 'user', content: 'x' }] };
  const a = await call(c.url, 'POST', '/v1/chat/completions', { json: body });
  assert.equal(a.status, 429);
  const b = await call(c.url, 'POST', '/v1/chat/completions', { json: body });
  assert.equal(b.json.choices[0].message.content, 'after');
  assert.equal(b.json.model, 'gpt-test');
  assert.equal((await call(c.url, 'POST', '/v1/chat/completions', { json: { messages: [] } })).status, 400);
  assert.equal((await call(c.url, 'GET', '/v1/models')).status, 404);
});
