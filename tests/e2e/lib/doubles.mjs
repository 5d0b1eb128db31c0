// Test doubles for the world outside spojit: small local servers that speak
// the real protocols, so that `http` and `agent` steps are tested against
// something that behaves like Stripe and like an OpenAI-compatible chat API.
// Node 20 built-ins only; every server listens on 127.0.0.1 on a free port
// and is closed by close() (tests call it in after()).
//
//   startSink(opts)  - a payment API in the manner of Stripe's refunds
//                      endpoint, with Stripe's Idempotency-Key rules
//   startChat(opts)  - POST /v1/chat/completions answering from a script
//   startHub()       - one address in front of many doubles, one path
//                      segment each (opts.hub of the two above)
//
// See docs/internals/testing.md.

import http from 'node:http';

const HOST = '127.0.0.1';
const live = new Set();
process.on('exit', () => {
  for (const s of live) {
    try { s.closeAllConnections(); s.close(); } catch { /* gone */ }
  }
});

function listen(server) {
  // Many clients connect at once in the load tests: a deep accept queue.
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: HOST, port: 0, backlog: 4096 }, () => {
      server.off('error', reject);
      live.add(server);
      resolve(`http://${HOST}:${server.address().port}`);
    });
  });
}

function closer(server, sockets) {
  let closing = null;
  return () => {
    closing ??= new Promise((resolve) => {
      live.delete(server);
      server.close(() => resolve());
      // 'hang' answers and idle keep-alive connections would keep it open
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
    });
    return closing;
  };
}

function track(server) {
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // Longer than any test waits, so that an idle connection a client reuses
  // is not closed under it by accident (the client is not under test there).
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  server.requestTimeout = 0;
  return sockets;
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('aborted', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Form bodies with Stripe's bracket notation: a[b]=1&a[c][]=2 ->
// {a: {b: "1", c: ["2"]}}. Values stay strings, as they arrive.
export function parseForm(text) {
  const out = {};
  for (const [rawKey, value] of new URLSearchParams(text)) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(rawKey);
    const parts = m ? [m[1], ...[...m[2].matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1])] : [rawKey];
    let node = out;
    for (let i = 0; i < parts.length; i++) {
      const k = parts[i];
      const last = i === parts.length - 1;
      if (Array.isArray(node)) {
        if (last) node.push(value);
        else { const child = parts[i + 1] === '' ? [] : {}; node.push(child); node = child; }
        continue;
      }
      if (last) { node[k] = value; break; }
      if (node[k] === undefined || typeof node[k] !== 'object') node[k] = parts[i + 1] === '' ? [] : {};
      node = node[k];
    }
  }
  return out;
}

function parseBody(contentType, raw) {
  const ct = String(contentType || '').split(';')[0].trim().toLowerCase();
  if (raw === '') return { ok: true, value: {} };
  if (ct === 'application/json' || ct.endsWith('+json')) {
    try { return { ok: true, value: JSON.parse(raw) }; } catch (e) { return { ok: false, message: `Invalid JSON body: ${e.message}` }; }
  }
  if (ct === 'application/x-www-form-urlencoded') return { ok: true, value: parseForm(raw) };
  return { ok: false, message: `Unsupported Content-Type '${ct || '(none)'}': use application/x-www-form-urlencoded or application/json` };
}

// Parameters as Stripe compares them: scalars as strings (form bodies carry
// only strings, so {amount: 612} and amount=612 are the same request), keys
// sorted.
function canonical(v) {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(String(v));
}

function lowerHeaders(req) {
  const h = {};
  for (const [k, v] of Object.entries(req.headers)) h[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return h;
}

function send(res, status, body, headers = {}) {
  if (res.destroyed || res.writableEnded) return false;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const h = { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', ...headers };
  h['content-length'] = Buffer.byteLength(text);
  try {
    res.writeHead(status, h);
    res.end(text);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// startHub: one address in front of many doubles.
//
// A workflow's URL takes its scheme and host only from configuration ($env,
// $secrets), never from a run (docs/workflows, "URL templates"). So a
// server under test is started once with the hub's address in its
// environment (hub.env, allowed by hub.args), and each test's own double
// is one path segment below it: a request for /<id>/rest reaches the double
// mounted as <id> as a request for /rest. Given {hub}, startSink and
// startChat mount there: their `url` is `${hub.url}/${id}` and their `id`
// is what a run's input names:
//   url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"   input: {sink: s.id}
// Every answer closes its connection, so that a connection one double's
// answer left open is never reused for another's scripted 'reset'.
// ---------------------------------------------------------------------------
export async function startHub() {
  const mounts = new Map();
  let seq = 0;
  const server = http.createServer((req, res) => {
    res.setHeader('connection', 'close');
    const m = /^\/([A-Za-z0-9_-]+)(?=[/?]|$)/.exec(req.url);
    const mount = m && mounts.get(m[1]);
    if (!mount) {
      readBody(req).then(() => send(res, 404, { error: { message: `no double at ${req.url}` } }));
      return;
    }
    const rest = req.url.slice(m[0].length);
    req.url = rest.startsWith('/') ? rest : `/${rest}`;
    mount.sockets.add(req.socket);
    req.socket.once('close', () => mount.sockets.delete(req.socket));
    mount.handler(req, res);
  });
  const sockets = track(server);
  const url = await listen(server);
  return {
    url,
    env: { DOUBLES: url },
    args: ['--env-allow', 'DOUBLES'],
    // handler(req, res) answers the double's requests; returns {id, url, close}
    mount(handler) {
      const id = `d${++seq}`;
      const mount = { handler, sockets: new Set() };
      mounts.set(id, mount);
      return {
        id,
        url: `${url}/${id}`,
        close: async () => {
          mounts.delete(id);
          for (const s of mount.sockets) s.destroy();
        },
      };
    },
    close: closer(server, sockets),
  };
}

// Serves handler on its own port, or mounts it on opts.hub: {id, url, close}.
async function serve(handler, opts) {
  if (opts.hub) return opts.hub.mount(handler);
  const server = http.createServer(handler);
  const sockets = track(server);
  const url = await listen(server);
  return { id: null, url, close: closer(server, sockets) };
}

function stripeError(status, message, extra = {}) {
  const type = status === 429 ? 'rate_limit_error'
    : status >= 500 ? 'api_error'
      : status === 401 ? 'invalid_request_error'
        : 'invalid_request_error';
  return { error: { type, message, ...extra } };
}

// ---------------------------------------------------------------------------
// startSink: a Stripe-like payment API.
//
// opts:
//   hub       - mount on this startHub() instead of a port of its own
//   delayMs   - every normal answer comes this long after the request
//               (the key is "being processed" meanwhile: 409 for a second
//               request with it)
//   apiKey    - when set, requests must carry `Authorization: Bearer KEY`
//               (or Basic with KEY as the user, as Stripe allows), else 401
//   script    - failures consumed in order before normal answers, per path:
//               {'/v1/refunds': [entry, ...]}, or an array for /v1/refunds.
//               entry: {status, retryAfter?, body?, headers?, delayMs?}
//                      | 'hang'   (read the request, never answer)
//                      | 'reset'  (read the request, reset the connection;
//                                  answers before it close their connection,
//                                  so that it happens on a fresh one)
//               A scripted failure sits in front of the API (like a proxy or
//               a rate limiter): it does not touch the idempotency store, so
//               a retry with the same key is processed normally.
//   onRequest - called with each record as soon as the request is read
//
// sink.requests: every request read, in order of arrival:
//   {n, method, path, query, target (the request-target as it came, below
//    the hub's segment when mounted), headers (lower-case names), raw (the
//    body text), body (parsed: JSON or form; null when it does not parse),
//    idempotencyKey, at (ms), outcome, status, delivered}
//   outcome: 'applied' | 'replayed' | 'idempotency_mismatch' | 'in_progress'
//            | 'invalid' | 'unauthorized' | 'not_found' | 'read'
//            | 'scripted' | 'hang' | 'reset'
//   status, response: the status and body answered (undefined for
//            hang/reset)
//   delivered: false when the client had gone before the answer was written
// ---------------------------------------------------------------------------
export async function startSink(opts = {}) {
  const delayMs = opts.delayMs ?? 0;
  const scripts = new Map();
  const enqueue = (entries, p = '/v1/refunds') => {
    if (!scripts.has(p)) scripts.set(p, []);
    scripts.get(p).push(...entries);
  };
  if (Array.isArray(opts.script)) enqueue(opts.script);
  else for (const [p, entries] of Object.entries(opts.script || {})) enqueue(entries, p);

  const requests = [];
  const refunds = [];
  const byId = new Map();
  const keys = new Map();      // key -> {fingerprint, state: 'processing'|'done', response}
  const appliedCount = new Map();
  let inflight = 0;
  let seq = 0;

  const handler = (req, res) => handle(req, res).catch((e) => {
    send(res, 500, stripeError(500, `sink error: ${e.message}`));
  });

  function authorized(headers) {
    if (!opts.apiKey) return true;
    const a = headers.authorization || '';
    if (a === `Bearer ${opts.apiKey}`) return true;
    const m = /^Basic\s+(.+)$/i.exec(a);
    if (m) {
      const [user] = Buffer.from(m[1], 'base64').toString('utf8').split(':');
      return user === opts.apiKey;
    }
    return false;
  }

  // A client's HTTP library may silently re-send a request that failed on a
  // reused keep-alive connection (libcurl does), which would hide a scripted
  // 'reset' from the code under test. So while a 'reset' is next in any
  // queue, answers close their connection and the reset meets a fresh one.
  const resetNext = () => [...scripts.values()].some((q) => q[0] === 'reset');

  function answer(rec, res, status, body, headers) {
    if (resetNext()) headers = { ...headers, connection: 'close' };
    rec.status = status;
    rec.response = body;
    rec.delivered = send(res, status, body, { 'request-id': `req_${rec.n}`, ...headers });
  }

  function refundFrom(params) {
    const n = refunds.length + 1;
    const refund = {
      id: `re_${n}`,
      object: 'refund',
      amount: Number(params.amount ?? 0),
      charge: params.charge,
      currency: params.currency ?? 'usd',
      reason: params.reason ?? null,
      metadata: params.metadata ?? {},
      status: 'succeeded',
      created: Math.floor(Date.now() / 1000),
    };
    return refund;
  }

  function validateRefund(params) {
    if (params === null || typeof params !== 'object' || Array.isArray(params)) return 'The request body must be an object of parameters.';
    if (params.charge === undefined && params.payment_intent === undefined) return 'One of the following params should be provided for this request: payment_intent or charge.';
    if (params.amount !== undefined && !/^[1-9][0-9]*$/.test(String(params.amount))) return `Invalid integer: ${String(params.amount)}`;
    return null;
  }

  async function handle(req, res) {
    const raw = await readBody(req);
    const u = new URL(req.url, 'http://sink');
    const headers = lowerHeaders(req);
    const parsed = parseBody(headers['content-type'], raw);
    const rec = {
      n: ++seq,
      method: req.method,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      target: req.url,
      headers,
      raw,
      body: parsed.ok ? parsed.value : null,
      idempotencyKey: headers['idempotency-key'] ?? null,
      at: Date.now(),
      outcome: null,
      status: undefined,
      response: undefined,
      delivered: undefined,
    };
    requests.push(rec);
    if (opts.onRequest) {
      try { opts.onRequest(rec); } catch { /* the test's business */ }
    }

    // scripted failures first, as a proxy in front of the API would
    const queue = scripts.get(u.pathname);
    if (queue && queue.length) {
      const entry = queue.shift();
      if (entry === 'hang') { rec.outcome = 'hang'; return; }
      if (entry === 'reset') {
        rec.outcome = 'reset';
        if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
        else req.socket.destroy();
        return;
      }
      rec.outcome = 'scripted';
      if (entry.delayMs) await sleep(entry.delayMs);
      const h = { ...(entry.headers || {}) };
      if (entry.retryAfter !== undefined) h['retry-after'] = String(entry.retryAfter);
      const body = entry.body ?? stripeError(entry.status, `scripted ${entry.status}`);
      answer(rec, res, entry.status, body, h);
      return;
    }

    if (!authorized(headers)) {
      rec.outcome = 'unauthorized';
      answer(rec, res, 401, stripeError(401, 'Invalid API Key provided.'), { 'www-authenticate': 'Bearer realm="Stripe"' });
      return;
    }

    let m;
    if (req.method === 'GET' && (m = /^\/v1\/refunds\/([^/]+)$/.exec(u.pathname))) {
      const r = byId.get(decodeURIComponent(m[1]));
      if (delayMs) await sleep(delayMs);
      if (!r) {
        rec.outcome = 'not_found';
        answer(rec, res, 404, stripeError(404, `No such refund: '${m[1]}'`, { code: 'resource_missing', param: 'id' }));
      } else {
        rec.outcome = 'read';
        answer(rec, res, 200, r);
      }
      return;
    }
    if (req.method === 'GET' && (m = /^\/v1\/charges\/([^/]+)$/.exec(u.pathname))) {
      const id = decodeURIComponent(m[1]);
      if (delayMs) await sleep(delayMs);
      const preset = opts.charges?.[id];
      if (!preset && !/^ch_/.test(id)) {
        rec.outcome = 'not_found';
        answer(rec, res, 404, stripeError(404, `No such charge: '${id}'`, { code: 'resource_missing', param: 'id' }));
        return;
      }
      const mine = refunds.filter((r) => r.charge === id);
      const amount = preset?.amount ?? 100_000;
      const refunded = mine.reduce((s, r) => s + r.amount, 0);
      rec.outcome = 'read';
      answer(rec, res, 200, {
        id, object: 'charge', amount, amount_refunded: refunded, currency: preset?.currency ?? 'usd',
        customer: preset?.customer ?? null, refunded: refunded >= amount, status: 'succeeded',
        refunds: { object: 'list', data: mine },
      });
      return;
    }
    if (u.pathname !== '/v1/refunds' || req.method !== 'POST') {
      rec.outcome = 'not_found';
      answer(rec, res, 404, stripeError(404, `Unrecognized request URL (${req.method}: ${u.pathname}).`));
      return;
    }

    // POST /v1/refunds
    if (!parsed.ok) {
      rec.outcome = 'invalid';
      answer(rec, res, 400, stripeError(400, parsed.message));
      return;
    }
    const key = rec.idempotencyKey;
    const fingerprint = `${req.method} ${u.pathname} ${canonical(parsed.value)}`;
    const known = key !== null ? keys.get(key) : undefined;
    if (known && known.state === 'processing') {
      rec.outcome = 'in_progress';
      answer(rec, res, 409, {
        error: {
          type: 'idempotency_error', code: 'idempotency_key_in_use',
          message: 'There is currently another in-progress request using this Idempotency-Key. Retry your request after some time.',
        },
      });
      return;
    }
    if (known && known.fingerprint !== fingerprint) {
      rec.outcome = 'idempotency_mismatch';
      answer(rec, res, 400, {
        error: {
          type: 'idempotency_error',
          message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        },
      });
      return;
    }
    if (known) {
      rec.outcome = 'replayed';
      answer(rec, res, known.response.status, known.response.body,
        { ...known.response.headers, 'idempotent-replayed': 'true' });
      return;
    }
    const problem = validateRefund(parsed.value);
    if (problem) {         // not stored: the request never started executing
      rec.outcome = 'invalid';
      answer(rec, res, 400, stripeError(400, problem));
      return;
    }
    const entry = key !== null ? { fingerprint, state: 'processing', response: null } : null;
    if (entry) keys.set(key, entry);
    inflight++;
    try {
      // The work goes on even if the client hangs up meanwhile, as it
      // would on a real server.
      if (delayMs) await sleep(delayMs);
      const refund = refundFrom(parsed.value);
      refunds.push(refund);
      byId.set(refund.id, refund);
      if (key !== null) appliedCount.set(key, (appliedCount.get(key) || 0) + 1);
      const response = { status: 200, body: refund, headers: key !== null ? { 'idempotency-key': key } : {} };
      if (entry) { entry.state = 'done'; entry.response = response; }
      rec.outcome = 'applied';
      answer(rec, res, response.status, response.body, response.headers);
    } finally {
      inflight--;
    }
  }

  const served = await serve(handler, opts);
  return {
    id: served.id,
    url: served.url,
    requests,
    refunds,
    // key -> how many times a request with it was applied (1, or it is a bug)
    applied: () => new Map(appliedCount),
    // requests being processed right now (POST /v1/refunds within delayMs)
    get inflight() { return inflight; },
    // more scripted failures, at the end of a path's queue
    enqueue,
    // scripted entries not consumed yet
    pending: (p = '/v1/refunds') => (scripts.get(p) || []).length,
    // the records carrying an Idempotency-Key
    withKey: (key) => requests.filter((r) => r.idempotencyKey === key),
    close: served.close,
  };
}

// ---------------------------------------------------------------------------
// startChat: an OpenAI-compatible chat-completions server.
//
// opts:
//   script  - answers, in order, one per POST /v1/chat/completions:
//             {tool_calls: [{name, arguments}], content?}  -> a tool call
//               (arguments: an object, sent JSON-encoded as OpenAI does, or a
//                string sent as is); content, if given, is the model's
//                reasoning text alongside; finish_reason "tool_calls"
//             {content}                                   -> text, "stop"
//             {status, body?}                             -> an error answer
//             each may carry delayMs
//             When the script is used up the answer is 500 (server_error).
//   apiKey  - when set, `Authorization: Bearer KEY` is required (401 in
//             OpenAI's error shape otherwise; a refused request does not use
//             up a script entry)
//   model   - the model named in answers when the request names none
//   hub     - mount on this startHub() instead of a port of its own
//
// chat.requests: the parsed body of every accepted request, in order (so a
//   test sees the messages sent, e.g. the tool results and an approver's
//   comment). chat.log: {headers, body, at, status} of every request.
// ---------------------------------------------------------------------------
export async function startChat(opts = {}) {
  const script = [...(opts.script || [])];
  const requests = [];
  const log = [];
  let completions = 0, calls = 0;

  const oaiError = (message, type, code = null, param = null) => ({ error: { message, type, param, code } });

  const handler = async (req, res) => {
    const raw = await readBody(req);
    const headers = lowerHeaders(req);
    const u = new URL(req.url, 'http://chat');
    const entry = { headers, raw, body: null, at: Date.now(), status: undefined };
    log.push(entry);
    const reply = (status, body) => { entry.status = status; send(res, status, body); };

    if (req.method !== 'POST' || u.pathname !== '/v1/chat/completions') {
      return reply(404, oaiError(`Unknown request URL: ${req.method} ${u.pathname}.`, 'invalid_request_error', 'unknown_url'));
    }
    if (opts.apiKey && headers.authorization !== `Bearer ${opts.apiKey}`) {
      const given = /^Bearer\s+(.*)$/.exec(headers.authorization || '')?.[1];
      return reply(401, given
        ? oaiError(`Incorrect API key provided: ${given.slice(0, 3)}***${given.slice(-4)}.`, 'invalid_request_error', 'invalid_api_key')
        : oaiError("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error'));
    }
    let body;
    try { body = JSON.parse(raw); } catch (e) {
      return reply(400, oaiError(`We could not parse the JSON body of your request. (${e.message})`, 'invalid_request_error'));
    }
    entry.body = body;
    if (!body || !Array.isArray(body.messages) || body.messages.length === 0) {
      return reply(400, oaiError("'messages' is a required property and must be a non-empty array", 'invalid_request_error', null, 'messages'));
    }
    if (body.stream) {
      return reply(400, oaiError('this test double does not stream', 'invalid_request_error', null, 'stream'));
    }
    requests.push(body);
    const next = script.shift();
    if (next?.delayMs) await sleep(next.delayMs);
    if (!next) return reply(500, oaiError('chat double: the script is used up', 'server_error'));
    if (next.status) return reply(next.status, next.body ?? oaiError(`scripted ${next.status}`, next.status === 429 ? 'rate_limit_exceeded' : 'server_error'));

    let message, finish;
    if (next.tool_calls) {
      message = {
        role: 'assistant',
        content: next.content ?? null,
        tool_calls: next.tool_calls.map((t) => ({
          id: `call_${++calls}`,
          type: 'function',
          function: { name: t.name, arguments: typeof t.arguments === 'string' ? t.arguments : JSON.stringify(t.arguments ?? {}) },
        })),
      };
      finish = 'tool_calls';
    } else {
      message = { role: 'assistant', content: next.content ?? '' };
      finish = 'stop';
    }
    const promptTokens = Math.ceil(JSON.stringify(body.messages).length / 4);
    const completionTokens = Math.ceil(JSON.stringify(message).length / 4);
    return reply(200, {
      id: `chatcmpl-${++completions}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model || opts.model || 'gpt-test',
      choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    });
  };
  const served = await serve(handler, opts);
  return {
    id: served.id,
    url: served.url,
    requests,
    log,
    remaining: () => script.length,
    push: (...entries) => script.push(...entries),
    close: served.close,
  };
}
