// Slow requests (slowloris) cannot take the server down: a connection
// that trickles its header a line at a time, or its body a byte at a time,
// is closed at the request deadline however often it sends, one client
// address cannot hold
// more than its share of connections, and /healthz keeps answering quickly
// from another address while well over a thousand such connections, from
// many loopback addresses, keep reconnecting. Linux routes all of
// 127.0.0.0/8 to the loopback device, so 127.0.0.2, 127.0.0.3, ... are
// distinct client addresses for the server.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { BIN, childEnv, rmrf, tmpdir, useServer } from './lib/server.mjs';

const DEADLINE_MS = 2000;               // --request-timeout 2, short for the test
const PER_IP = 64;                      // --max-connections-per-ip
const LINE_EVERY_MS = 300;              // a header line this often: the idle timeout never fires
const ATTACK_MS = 3 * DEADLINE_MS;      // three generations of slow connections
// A closed connection "lived to the deadline" when it lasted at least this
// long; refused ones are closed at once, far below it.
const CUT_MIN_MS = DEADLINE_MS - 50;
// The sweeper, plus a loaded machine (ASan, other jobs: this process's own
// clock reads lag with its event loop). Still below the default deadline
// (10 s) and the attack's length, so only the 2 s deadline can explain a cut.
const CUT_MAX_MS = DEADLINE_MS + 3000;
const REFUSED_MAX_MS = 1000;

const srv = useServer({
  args: ['--request-timeout', String(DEADLINE_MS / 1000), '--max-connections-per-ip', String(PER_IP)],
});

// This process's own open-file limit bounds how many sockets the test may
// open; the attack is sized to fit (and the test says so if it cannot).
function ownFileLimit() {
  const r = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) ? n : 1024;           // "unlimited" is NaN: plenty
}

function port() {
  return Number(new URL(srv.url).port);
}

async function waitFor(what, cond, timeoutMs) {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// One slow client: the request line, then one header line every
// LINE_EVERY_MS, never the blank line that ends the header.
function slowConnection(localAddress) {
  const c = { localAddress, start: performance.now(), end: null, bytesIn: 0, lines: 0 };
  const sock = net.connect({ host: '127.0.0.1', port: port(), localAddress });
  let timer = null;
  sock.on('connect', () => {
    sock.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    timer = setInterval(() => {
      if (!sock.destroyed) sock.write(`X-Slow-${c.lines++}: ${'z'.repeat(16)}\r\n`);
    }, LINE_EVERY_MS);
  });
  sock.on('data', (b) => { c.bytesIn += b.length; });
  sock.on('error', () => {});           // a refused one is reset; 'close' follows
  c.closed = new Promise((resolve) => sock.on('close', () => {
    clearInterval(timer);
    c.end = performance.now();
    resolve(c);
  }));
  c.sock = sock;
  return c;
}

const lifetime = (c) => c.end - c.start;

// A slow body: a whole header that announces 100 bytes, then one byte
// every LINE_EVERY_MS, so the body never ends within the deadline.
function slowBody(localAddress) {
  const c = { localAddress, start: performance.now(), end: null, bytesIn: 0, sent: 0 };
  const sock = net.connect({ host: '127.0.0.1', port: port(), localAddress });
  let timer = null;
  sock.on('connect', () => {
    sock.write('POST /v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
               'Content-Length: 100\r\n\r\n{');
    timer = setInterval(() => {
      if (!sock.destroyed && c.sent < 90) { sock.write(' '); c.sent++; }
    }, LINE_EVERY_MS);
  });
  sock.on('data', (b) => { c.bytesIn += b.length; });
  sock.on('error', () => {});
  c.closed = new Promise((resolve) => sock.on('close', () => {
    clearInterval(timer);
    c.end = performance.now();
    resolve(c);
  }));
  return c;
}

test('a body trickled a byte at a time is closed at the request deadline too, unanswered', { timeout: 60_000 }, async () => {
  const conns = Array.from({ length: 8 }, () => slowBody('127.0.0.9'));
  const closed = await Promise.race([
    Promise.all(conns.map((c) => c.closed)),
    new Promise((_, reject) => setTimeout(() => reject(new Error(
      `slow bodies still open ${DEADLINE_MS + 8000} ms later (the request deadline does not cover bodies); ` +
      `server log:\n${srv.tail()}`)), DEADLINE_MS + 8000)),
  ]);
  for (const c of closed) {
    assert.ok(lifetime(c) >= CUT_MIN_MS && lifetime(c) <= CUT_MAX_MS,
      `a slow body lived ${Math.round(lifetime(c))} ms; the request deadline is ${DEADLINE_MS} ms`);
    assert.ok(c.sent > 0, 'the body was still trickling when it was cut');
    assert.equal(c.bytesIn, 0, 'the server answered a request whose body never ended');
  }
  // a whole request in time is answered as usual
  const ok = await fetch(`${srv.url}/healthz`);
  assert.equal(ok.status, 200);
});

// One GET /healthz on a new connection from 127.0.0.1 (as a load balancer
// probes): its latency, or the error.
function probe() {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get({
      host: '127.0.0.1', port: port(), path: '/healthz', agent: false,
      localAddress: '127.0.0.1', timeout: 5000,
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: performance.now() - t0, status: res.statusCode }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', (e) => resolve({ ms: performance.now() - t0, error: e.message }));
  });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// What the server process holds now (Linux /proc): open files and memory.
function serverUsage() {
  const pid = srv.proc.pid;
  try {
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { fds, rssKiB: rss ? Number(rss[1]) : null };
  } catch {
    return { fds: null, rssKiB: null };
  }
}

test('one address holds at most its share of connections, and the header deadline closes them', { timeout: 60_000 }, async (t) => {
  await srv.ensureStarted();
  const EXTRA = 36;
  const conns = Array.from({ length: PER_IP + EXTRA }, () => slowConnection('127.0.0.2'));
  await Promise.race([
    Promise.all(conns.map((c) => c.closed)),
    new Promise((_, reject) => setTimeout(() => reject(new Error(
      `connections from one address still open ${DEADLINE_MS + 8000} ms after they were made ` +
      `(the header deadline does not hold); server log:\n${srv.tail()}`)), DEADLINE_MS + 8000)),
  ]);
  const refused = conns.filter((c) => lifetime(c) < REFUSED_MAX_MS);
  const held = conns.filter((c) => lifetime(c) >= REFUSED_MAX_MS);
  t.diagnostic(`refused ${refused.length}, held ${held.length}; held ones lived ` +
    `${Math.round(Math.min(...held.map(lifetime)))}..${Math.round(Math.max(...held.map(lifetime)))} ms`);
  assert.equal(held.length, PER_IP, `one address held ${held.length} connections; the limit is ${PER_IP}`);
  assert.equal(refused.length, EXTRA);
  for (const c of held) {
    assert.ok(lifetime(c) >= CUT_MIN_MS && lifetime(c) <= CUT_MAX_MS,
      `a slow connection lived ${Math.round(lifetime(c))} ms; the header deadline is ${DEADLINE_MS} ms`);
    // It kept sending all along, so an idle timeout could not have closed it.
    assert.ok(c.lines >= Math.floor(CUT_MIN_MS / LINE_EVERY_MS) - 1, `only ${c.lines} lines sent`);
    assert.equal(c.bytesIn, 0, 'the server answered a request whose header never ended');
  }
});

// The attack of the next test runs on its own thread (its own event loop),
// so that handling well over a thousand sockets does not delay the probes
// that measure the server. Each address keeps `perAddr` slow connections
// going: one that is closed is replaced at once, as an attacker would.
// Reports every connection's lifetime (ms) and how many were open at most.
const ATTACKER = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const { performance } = require('node:perf_hooks');
const { port, addrs, perAddr, lineEveryMs, attackMs, waitMs } = workerData;
const done = [];
let open = 0, peakOpen = 0, attacking = true;
function keep(addr) {
  const start = performance.now();
  let timer = null, lines = 0;
  const sock = net.connect({ host: '127.0.0.1', port, localAddress: addr });
  open++;
  peakOpen = Math.max(peakOpen, open);
  sock.on('connect', () => {
    sock.write('GET /healthz HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n');
    timer = setInterval(() => {
      if (!sock.destroyed) sock.write('X-Slow-' + lines++ + ': zzzzzzzzzzzzzzzz\\r\\n');
    }, lineEveryMs);
  });
  let bytesIn = 0;
  sock.on('data', (b) => { bytesIn += b.length; });
  sock.on('error', () => {});
  sock.on('close', () => {
    clearInterval(timer);
    open--;
    done.push({ addr, ms: performance.now() - start, lines, bytesIn });
    if (attacking) keep(addr);
    else if (open === 0) finish(true);
  });
}
function finish(allClosed) {
  parentPort.postMessage({ done, peakOpen, stillOpen: open, allClosed });
  process.exit(0);
}
for (const a of addrs) for (let i = 0; i < perAddr; i++) keep(a);
setTimeout(() => {
  attacking = false;
  setTimeout(() => finish(false), waitMs);     // bounded: the deadline must have closed them
}, attackMs);
`;

test('/healthz answers within 1 s (p99) while slow-header connections from many addresses keep coming', { timeout: 120_000 }, async (t) => {
  await srv.ensureStarted();
  const limit = ownFileLimit();
  const ADDRS = Math.min(24, Math.floor((limit - 300) / PER_IP));
  if (ADDRS < 6) {
    t.skip(`this process may open only ${limit} files: too few for the attack (ulimit -n)`);
    return;
  }
  const addrs = Array.from({ length: ADDRS }, (_, i) => `127.0.0.${10 + i}`);
  const WAIT_MS = DEADLINE_MS + 10_000;
  const worker = new Worker(ATTACKER, {
    eval: true,
    workerData: { port: port(), addrs, perAddr: PER_IP, lineEveryMs: LINE_EVERY_MS, attackMs: ATTACK_MS, waitMs: WAIT_MS },
  });
  const report = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });

  const t0 = performance.now();
  const samples = [];
  const usage = [];
  while (performance.now() - t0 < ATTACK_MS) {
    samples.push(await probe());
    usage.push(serverUsage());
    await new Promise((r) => setTimeout(r, 20));
  }
  const { done, peakOpen, stillOpen, allClosed } = await report;
  assert.ok(allClosed, `${stillOpen} slow connections still open ${WAIT_MS} ms after the attack ` +
    `stopped (the header deadline does not hold); server log:\n${srv.tail()}`);

  const failed = samples.filter((s) => s.error || s.status !== 200);
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const p50 = percentile(ms, 50), p99 = percentile(ms, 99), max = ms[ms.length - 1];
  const held = done.filter((c) => c.ms >= REFUSED_MAX_MS);
  const refused = done.length - held.length;
  const peakFds = Math.max(...usage.map((u) => u.fds ?? 0));
  const peakRss = Math.max(...usage.map((u) => u.rssKiB ?? 0));
  t.diagnostic(`${ADDRS} addresses x ${PER_IP}: ${done.length} slow connections made, ` +
    `${held.length} held to the deadline, ${refused} refused at once; at most ${peakOpen} open at once`);
  t.diagnostic(`/healthz: ${samples.length} probes, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ` +
    `max ${max.toFixed(1)} ms, ${failed.length} failed`);
  t.diagnostic(`server: at most ${peakFds} open files, ${Math.round(peakRss / 1024)} MiB resident`);

  assert.ok(samples.length >= 50, `only ${samples.length} probes in ${ATTACK_MS} ms`);
  assert.equal(failed.length, 0, `probes failed: ${JSON.stringify(failed.slice(0, 5))}`);
  assert.ok(p99 < 1000, `/healthz p99 ${p99.toFixed(1)} ms under attack (limit 1000 ms)`);
  // Real pressure: the addresses together held over a thousand connections
  // at once, and more than twice over during the attack.
  assert.ok(held.length >= 2 * ADDRS * PER_IP, `only ${held.length} connections were held`);
  assert.ok(peakFds === 0 || peakFds >= ADDRS * PER_IP * 0.8,
    `the server held at most ${peakFds} files: the attack did not reach it`);
  for (const c of held) {
    assert.ok(c.ms >= CUT_MIN_MS && c.ms <= CUT_MAX_MS,
      `a slow connection from ${c.addr} lived ${Math.round(c.ms)} ms; the header deadline is ${DEADLINE_MS} ms`);
    assert.equal(c.bytesIn, 0, 'the server answered a request whose header never ended');
  }
});

test('the connection limit is sized from the open-file limit, and one that does not fit is refused', { timeout: 60_000 }, async () => {
  const dir = tmpdir();
  try {
    const run = (args) => spawnSync('sh', ['-c', `ulimit -n 400 && exec "$0" serve "$@"`, BIN,
      '--listen', '127.0.0.1:0', '--db', `sqlite:${path.join(dir, 'spojit.db')}`, ...args], {
      cwd: dir, env: childEnv({ SPOJIT_BOOTSTRAP_TOKEN: 'e2e-slowheaders-bootstrap-token-0123456789' }),
      encoding: 'utf8', timeout: 30_000,
    });
    const r = run(['--max-connections', '1000']);
    assert.equal(r.status, 1, `exit ${r.status}; stderr:\n${r.stderr}`);
    assert.match(r.stderr, /max connections 1000: the open-file limit is 400 .* at most 144 connections fit/);
    assert.match(r.stderr, /ulimit -n/);

    // Automatic: what the open-file limit leaves after the reserve of 256.
    const child = spawn('sh', ['-c', `ulimit -n 400 && exec "$0" serve "$@"`, BIN,
      '--listen', '127.0.0.1:0', '--db', `sqlite:${path.join(dir, 'spojit.db')}`], {
      cwd: dir, env: childEnv(), stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "listening on" within 30 s:\n${log}`)), 30_000);
        child.stderr.on('data', (b) => {
          log += b;
          if (/listening on/.test(log)) { clearTimeout(timer); resolve(); }
        });
        exited.then((code) => { clearTimeout(timer); reject(new Error(`exited ${code}:\n${log}`)); });
      });
      assert.match(log, /http: at most 144 connections, 64 from one address; a request must arrive within 10 s/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, log);
  } finally {
    rmrf(dir);
  }
});
