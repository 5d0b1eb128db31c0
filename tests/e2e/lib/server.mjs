// Black-box harness for the spojit end-to-end tests: starts `spojit serve`
// on a fresh SQLite store, talks to it over HTTP, restarts it on the same
// store, and kills it. No npm dependencies (Node 20 built-ins only).
//
// Every server started here is registered so that it is killed when the test
// process exits, whatever happened; tests still stop their servers in an
// after() hook so that a clean shutdown is checked.

import { spawn, spawnSync } from 'node:child_process';
import { after, before } from 'node:test';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = process.env.SPOJIT_BIN
  ? path.resolve(process.env.SPOJIT_BIN)
  : path.join(REPO, 'build/spojit');
export const EXAMPLES = path.join(REPO, 'examples');

// ASan builds are several times slower; everything waits generously.
export const START_TIMEOUT_MS = 60_000;
export const STOP_TIMEOUT_MS = 30_000;
export const REQUEST_TIMEOUT_MS = 120_000;

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const child of live) {
      try { child.kill('SIGKILL'); } catch { /* already gone */ }
    }
    process.exit(130);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn until it returns something truthy, and returns that. A test
// waits on a condition like this, never on a fixed sleep: the condition is
// what proves the thing had its chance to happen.
export async function until(fn, { timeoutMs = 60_000, every = 50, what = 'the condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(every);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

export function tmpdir(prefix = 'spojit-e2e-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function rmrf(dir) {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

// The environment for a child: ours minus any SPOJIT_* that could change
// what the server or the CLI does, plus what the caller asks for.
export function childEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SPOJIT_')) env[k] = v;
  }
  return { ...env, ...extra };
}

const TAIL_MAX = 256 * 1024;

export class Server {
  constructor({ dir, token, args = [], env = {} } = {}) {
    this.ownsDir = !dir;
    this.dir = dir || tmpdir();
    this.dbPath = path.join(this.dir, 'spojit.db');
    this.db = `sqlite:${this.dbPath}`;
    this.token = token || `e2e-${crypto.randomBytes(24).toString('base64url')}`;
    this.args = args;
    this.env = env;
    this.proc = null;
    this.url = null;
    this.stderr = '';
    this.history = [];      // {code, signal} of every process that ended
  }

  get alive() {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  // The last part of what the server wrote to stderr, for failure messages.
  tail(n = 4000) {
    return this.stderr.length > n ? '…' + this.stderr.slice(-n) : this.stderr;
  }

  async start() {
    if (this.alive) throw new Error('server already running');
    this.stderr = '';
    this.url = null;
    const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--db', this.db, ...this.args], {
      cwd: this.dir,
      env: childEnv({ SPOJIT_BOOTSTRAP_TOKEN: this.token, ...this.env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = child;
    live.add(child);
    let resolveExit;
    child.exited = new Promise((resolve) => {
      resolveExit = resolve;
      child.on('exit', (code, signal) => {
        live.delete(child);
        this.history.push({ code, signal });
        resolve({ code, signal });
      });
    });
    child.on('error', (e) => {
      // spawn failed (no binary): there will be no 'exit' event.
      this.stderr += `\n[spawn error: ${e.message} (SPOJIT_BIN=${BIN})]\n`;
      live.delete(child);
      this.history.push({ code: null, signal: null, error: e.message });
      resolveExit({ code: null, signal: null });
    });
    child.stdout.on('data', () => {});
    const listening = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `no "listening on" line within ${START_TIMEOUT_MS} ms; stderr:\n${this.tail()}`)), START_TIMEOUT_MS);
      child.stderr.on('data', (buf) => {
        this.stderr += buf.toString('utf8');
        if (this.stderr.length > TAIL_MAX) this.stderr = this.stderr.slice(-TAIL_MAX);
        const m = /listening on (http:\/\/[^\s]+:\d+)/.exec(this.stderr);
        if (m && !this.url) {
          this.url = m[1].replace(/\/+$/, '');
          clearTimeout(timer);
          resolve();
        }
      });
      child.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`server exited (code ${code}, signal ${signal}) before listening; stderr:\n${this.tail()}`));
      });
    });
    try {
      await listening;
      await this.waitReady();
    } catch (e) {
      if (this.alive) {
        this.proc.kill('SIGKILL');
        await child.exited;
      }
      throw e;
    }
    return this;
  }

  // Starts the server once, however many callers ask at the same time.
  ensureStarted() {
    this.starting ??= this.start();
    return this.starting;
  }

  async waitReady(timeoutMs = START_TIMEOUT_MS) {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`server died while starting; stderr:\n${this.tail()}`);
      try {
        const r = await fetch(this.url + '/readyz', { signal: AbortSignal.timeout(5000) });
        await r.arrayBuffer();
        if (r.status === 200) return;
        last = `status ${r.status}`;
      } catch (e) {
        last = e.message;
      }
      await sleep(50);
    }
    throw new Error(`GET /readyz not 200 within ${timeoutMs} ms (${last}); stderr:\n${this.tail()}`);
  }

  // SIGTERM, then SIGKILL after a timeout. Returns {code, signal}.
  async stop() {
    const child = this.proc;
    if (!child) return null;
    if (child.exitCode !== null || child.signalCode !== null) return child.exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.stderr += `\n[e2e: no exit ${STOP_TIMEOUT_MS} ms after SIGTERM; sent SIGKILL]\n`;
      child.kill('SIGKILL');
    }, STOP_TIMEOUT_MS);
    const res = await child.exited;
    clearTimeout(timer);
    return res;
  }

  // Stops and checks that the server ended cleanly: exit code 0 on SIGTERM,
  // and no sanitizer report.
  async stopClean() {
    if (!this.proc) return;
    const child = this.proc;
    const wasAlive = this.alive;
    const res = await this.stop();
    const problems = [];
    if (!wasAlive) problems.push(`the server had already exited (code ${res.code}, signal ${res.signal}) before the test stopped it`);
    else if (res.code !== 0) problems.push(`exit code ${res.code}, signal ${res.signal} after SIGTERM (expected a clean exit 0)`);
    if (sanitizerReport(this.stderr, child.pid)) problems.push('a sanitizer report on stderr');
    if (problems.length) throw new Error(`${problems.join('; ')}; stderr:\n${this.tail(8000)}`);
  }

  kill9() {
    if (this.alive) this.proc.kill('SIGKILL');
    return this.proc ? this.proc.exited : Promise.resolve(null);
  }

  async restart() {
    await this.stop();
    return this.start();
  }

  // Stops the process (if running) and removes the temporary directory.
  async dispose() {
    try {
      if (this.proc && this.alive) await this.stop();
    } finally {
      if (this.ownsDir) rmrf(this.dir);
    }
  }

  // api(method, path, {token, body, headers, contentType, timeout})
  // token: undefined = the admin token, null = no Authorization header.
  // body: an object (sent as JSON) or a string/Buffer (sent as is).
  async api(method, p, opts = {}) {
    if (this.autoStart && !this.url) await this.ensureStarted();
    return apiCall(this.url, method, p, { ...opts, token: opts.token === undefined ? this.token : opts.token }, this);
  }

  // One sample of GET /metrics without labels (a number), or undefined
  // when the server does not report it.
  async metric(name) {
    const r = await this.api('GET', '/metrics', { token: null });
    if (r.status !== 200) throw new Error(`GET /metrics -> ${r.status}: ${r.text.slice(0, 500)}`);
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(r.text);
    return m ? Number(m[1]) : undefined;
  }

  // Waits until at least n requests are parked on ?wait= (the gauge
  // spojit_longpolls_waiting): each was read once, found still waiting, and
  // handed to the long-poll sweeper. Returns the gauge.
  parked(n = 1, timeoutMs = 30_000) {
    return until(async () => {
      const v = await this.metric('spojit_longpolls_waiting');
      return v >= n ? v : null;
    }, { timeoutMs, what: `${n} request(s) parked on ?wait=` });
  }

  // Proves that the n requests parked on ?wait= are held, not merely not
  // answered yet: a probe of path p with ?wait=1 parks after them, and the
  // sweeper - one thread that checks every newly parked request before it
  // looks at deadlines (src/api/longpoll.c) - answers the probe at its
  // deadline only after checking them. If one of
  // them were answered on that check, the gauge read after the probe's
  // answer would show it gone. The probe must find its document still
  // waiting (200); it is returned.
  async held(p, { token, n = 1 } = {}) {
    await this.parked(n);
    const sep = p.includes('?') ? '&' : '?';
    const probe = await this.api('GET', `${p}${sep}wait=1`, { token });
    if (probe.status !== 200) throw new Error(`probe GET ${p}?wait=1 -> ${probe.status}: ${probe.text.slice(0, 500)}`);
    const now = await this.metric('spojit_longpolls_waiting');
    if (now !== n) throw new Error(`after the probe, ${now} request(s) parked on ?wait=, expected the ${n} held`);
    return probe.json;
  }

  // --- set-up helpers (admin token) ---

  async must(method, p, opts = {}, expect = [200, 201]) {
    const r = await this.api(method, p, opts);
    const ok = Array.isArray(expect) ? expect.includes(r.status) : r.status === expect;
    if (!ok) {
      throw new Error(`${method} ${p} -> ${r.status} (expected ${expect}): ${r.text.slice(0, 2000)}`);
    }
    return r;
  }

  async createUser(name, { teams, role, password = 'pw-' + name + '-e2e', email } = {}) {
    const body = { name, password };
    if (teams) body.teams = teams;
    if (role) body.role = role;
    if (email) body.email = email;
    return (await this.must('POST', '/v1/users', { body }, 201)).json;
  }

  async createTeam(name, members) {
    const body = { name };
    if (members) body.members = members;
    return (await this.must('POST', '/v1/teams', { body }, 201)).json;
  }

  async createKey(user, scope = 'member') {
    const r = await this.must('POST', '/v1/keys', { body: { user, scope } }, 201);
    if (typeof r.json?.key !== 'string' || !r.json.key) throw new Error(`POST /v1/keys gave no key: ${r.text}`);
    return r.json.key;
  }

  // A user (with teams) and a member key for them.
  async userWithKey(name, opts = {}) {
    await this.createUser(name, opts);
    return this.createKey(name, opts.scope || (opts.role === 'admin' ? 'admin' : 'member'));
  }

  async applyWorkflow(source, contentType = 'application/yaml') {
    const r = await this.must('POST', '/v1/workflows', { body: source, contentType }, [200, 201]);
    return r.json;
  }

  async applyFile(file) {
    return this.applyWorkflow(fs.readFileSync(file, 'utf8'));
  }

  // The whole audit trail (or a filtered part) as parsed JSONL rows, paging
  // with after=SEQ until a page brings nothing new.
  async audit(query = {}, token) {
    const rows = [];
    let after = null;
    for (let page = 0; page < 10_000; page++) {
      const q = new URLSearchParams({ ...query, format: 'jsonl' });
      if (after !== null) q.set('after', String(after));
      const r = await this.api('GET', `/v1/audit?${q}`, { token });
      if (r.status !== 200) throw new Error(`GET /v1/audit?${q} -> ${r.status}: ${r.text.slice(0, 500)}`);
      const fresh = parseJsonl(r.text).filter((row) => after === null || row.seq > after);
      if (!fresh.length) break;
      rows.push(...fresh);
      after = fresh[fresh.length - 1].seq;
    }
    for (const row of rows) {
      if (typeof row.data === 'string') {
        try { row.data = JSON.parse(row.data); } catch { /* leave it */ }
      }
    }
    return rows;
  }
}

// Whether stderr holds a sanitizer report that counts. The expression
// evaluators (docs/internals/expr.md) share the server's stderr, and tests
// crash them on purpose: a SEGV, an abort or a refused allocation in a
// process other than the server is what those tests expect. Any other
// report, and every report of the server's own process, counts.
const EXPECTED_EVALUATOR_FAILURE = /SEGV|ABRT|BUS|deadly signal|failed to allocate|allocation-size-too-big|requested allocation size|out of memory|hard rss limit/;
export function sanitizerReport(stderr, serverPid) {
  for (const line of stderr.split('\n')) {
    if (/runtime error:/.test(line)) return true;
    const m = /==(\d+)==(?:ERROR|WARNING): (?:AddressSanitizer|LeakSanitizer)(.*)/.exec(line);
    if (m) {
      if (Number(m[1]) === serverPid || !EXPECTED_EVALUATOR_FAILURE.test(m[2])) return true;
    }
    // every report has one "==PID==ERROR:" line; the rest (DEADLYSIGNAL,
    // SUMMARY, frames) belong to it and are judged by it
  }
  return false;
}

export function parseJsonl(text) {
  return text.split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    try { return JSON.parse(l); } catch (e) { throw new Error(`JSONL line ${i + 1} does not parse (${e.message}): ${l.slice(0, 300)}`); }
  });
}

export async function apiCall(base, method, p, { token, body, headers = {}, contentType, timeout = REQUEST_TIMEOUT_MS } = {}, srv = null) {
  if (!base) throw new Error('server is not running (no URL)');
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string' || body instanceof Uint8Array) {
      payload = body;
      h['content-type'] = contentType || 'application/json';
    } else {
      payload = JSON.stringify(body);
      h['content-type'] = contentType || 'application/json';
    }
  } else if (contentType) {
    h['content-type'] = contentType;
  }
  let res;
  try {
    res = await fetch(base + p, { method, headers: h, body: payload, signal: AbortSignal.timeout(timeout) });
  } catch (e) {
    const err = new Error(`${method} ${p}: request failed: ${e.cause?.code || ''} ${e.cause?.message || e.message}` +
      (srv ? `\n(server ${srv.alive ? 'alive' : 'NOT running'}; stderr tail:\n${srv.tail(3000)})` : ''));
    err.network = true;
    err.cause = e;
    throw err;
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  return { status: res.status, json, text, headers: res.headers };
}

// A raw HTTP/1.1 exchange over a socket, for bodies a server may refuse
// before reading them (413): the status line is taken as soon as it arrives,
// and write errors after it are ignored.
export function rawRequest(url, { method = 'POST', path: p = '/', headers = {}, body = Buffer.alloc(0), chunk = 64 * 1024, timeout = REQUEST_TIMEOUT_MS } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: u.hostname, port: Number(u.port) });
    let data = Buffer.alloc(0);
    let done = false;
    const timer = setTimeout(() => finish(new Error('raw request timed out')), timeout);
    function finish(err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err && !parsed()) return reject(err);
      const r = parsed();
      if (!r) return reject(new Error(`no HTTP response (${data.length} bytes: ${data.toString('latin1').slice(0, 200)})`));
      resolve(r);
    }
    function parsed() {
      const s = data.toString('latin1');
      const end = s.indexOf('\r\n\r\n');
      if (end < 0) return null;
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(s);
      if (!m) return null;
      const head = s.slice(0, end);
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const bodyBuf = data.subarray(Buffer.byteLength(s.slice(0, end + 4), 'latin1'));
      const text = bodyBuf.toString('utf8');
      let json = null;
      try { json = JSON.parse(text); } catch { /* not (yet) JSON */ }
      return { status: Number(m[1]), head, text, json, complete: !cl || bodyBuf.length >= Number(cl[1]) };
    }
    sock.on('data', (b) => {
      data = Buffer.concat([data, b]);
      const r = parsed();
      if (r && r.complete) finish();
    });
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(new Error('connection closed')));
    sock.on('connect', async () => {
      const lines = [`${method} ${p} HTTP/1.1`, `host: ${u.host}`, 'connection: close'];
      const hdrs = { 'content-length': String(body.length), ...headers };
      for (const [k, v] of Object.entries(hdrs)) if (v !== null) lines.push(`${k}: ${v}`);
      sock.write(lines.join('\r\n') + '\r\n\r\n');
      // A server may answer from the headers alone (413 on Content-Length):
      // give it a moment, as curl does, before pushing the body. Between
      // chunks, yield so a response that arrives is read before a write
      // fails on the connection the server closed after answering.
      await Promise.race([sleep(300), new Promise((r) => sock.once('data', r))]);
      for (let off = 0; off < body.length && !done && !parsed(); off += chunk) {
        const ok = sock.write(body.subarray(off, off + chunk));
        if (!ok) await new Promise((r) => { sock.once('drain', r); sock.once('close', r); });
        await new Promise((r) => setImmediate(r));
      }
    });
  });
}

// Runs the CLI. Returns {code, signal, stdout, stderr}.
export function cli(args, { url, token, env = {}, input, timeout = REQUEST_TIMEOUT_MS, cwd } = {}) {
  const extra = { ...env };
  if (url) extra.SPOJIT_URL = url;
  if (token) extra.SPOJIT_TOKEN = token;
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env: childEnv(extra), stdio: ['pipe', 'pipe', 'pipe'], cwd: cwd || os.tmpdir() });
    live.add(child);
    let stdout = '', stderr = '';
    child.stdout.on('data', (b) => { stdout += b; });
    child.stderr.on('data', (b) => { stderr += b; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', (e) => { clearTimeout(timer); live.delete(child); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

// Runs fn over items with at most n in flight; results in item order.
export async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

// A small seeded PRNG (mulberry32), so random inputs repeat run to run.
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sqlite(dbPath, sql) {
  const r = spawnSync('sqlite3', [dbPath, sql], { encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`sqlite3 ${sql}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export function binAvailable() {
  try {
    fs.accessSync(BIN, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// Asserts the body is the API's error form {error: {code, message}}.
export function errorShape(r) {
  const e = r.json && r.json.error;
  return !!e && typeof e.code === 'string' && e.code !== '' && typeof e.message === 'string' && e.message !== '';
}

export function describeResponse(r) {
  return `status ${r.status}: ${r.text.length > 1500 ? r.text.slice(0, 1500) + '…' : r.text}`;
}

// The usual life of a test file's server: started before the tests, stopped
// (and checked for a clean exit) after them, its directory removed.
export function useServer(opts = {}) {
  const srv = new Server(opts);
  let started = false;
  // node 20 runs a file's top-level before() hooks without waiting for one
  // another, so a test's own set-up may call the server before this hook has
  // started it: api() starts it on first use (ensureStarted), once.
  srv.autoStart = true;
  before(async () => { await srv.ensureStarted(); started = true; }, { timeout: START_TIMEOUT_MS * 2 });
  after(async () => {
    try {
      // a server that never started was already reported by before()
      if (started) await srv.stopClean();
    } finally {
      await srv.dispose();
    }
  }, { timeout: STOP_TIMEOUT_MS * 2 });
  return srv;
}
