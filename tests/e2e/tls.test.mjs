// HTTPS (docs/operations/security.md): `spojit serve --tls-cert --tls-key`
// with a self-signed certificate made by the openssl CLI. The server speaks
// only TLS on its port, says https:// in its "listening on" line, and
// every response carries the security headers plus Strict-Transport-Security.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { BIN, START_TIMEOUT_MS, STOP_TIMEOUT_MS, childEnv, rmrf, tmpdir } from './lib/server.mjs';

const T = { timeout: 180_000 };
const dir = tmpdir('spojit-tls-');
const token = `e2e-${crypto.randomBytes(24).toString('base64url')}`;
const files = {
  cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem'),
  otherCert: path.join(dir, 'other-cert.pem'), otherKey: path.join(dir, 'other-key.pem'),
};
const children = new Set();

function selfSigned(cert, key, cn) {
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`], { encoding: 'utf8' });
  if (r.error) throw new Error(`openssl is needed for this test (scripts/deps.sh test): ${r.error.message}`);
  assert.equal(r.status, 0, `openssl req: ${r.stderr}`);
}

// Starts `spojit serve` with args; resolves {child, url, stderr()} once it
// says where it listens, or rejects with its stderr when it exits first.
function serve(args, env = {}) {
  const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--db', `sqlite:${path.join(dir, 'spojit.db')}`, ...args], {
    cwd: dir, env: childEnv({ SPOJIT_BOOTSTRAP_TOKEN: token, ...env }), stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not listening within ${START_TIMEOUT_MS} ms:\n${stderr}`)), START_TIMEOUT_MS);
    child.stderr.on('data', (b) => {
      stderr += b;
      const m = /listening on (\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], exited, stderr: () => stderr });
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`exited (code ${code}, signal ${signal}) before listening:\n${stderr}`), { code }));
    });
  });
}

async function stop(s) {
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  const res = await s.exited;
  clearTimeout(timer);
  return res;
}

function request(mod, url, { method = 'GET', headers = {}, body, ...opts } = {}) {
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers, timeout: 30_000, ...opts }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

let server;

before(async () => {
  selfSigned(files.cert, files.key, 'localhost');
  selfSigned(files.otherCert, files.otherKey, 'other');
  server = await serve(['--tls-cert', files.cert, '--tls-key', files.key]);
}, T);

after(async () => {
  try {
    if (server) {
      const res = await stop(server);
      assert.equal(res.code, 0, `clean exit after SIGTERM:\n${server.stderr()}`);
      assert.doesNotMatch(server.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/);
    }
  } finally {
    for (const c of children) c.kill('SIGKILL');
    rmrf(dir);
  }
}, { timeout: STOP_TIMEOUT_MS * 2 });

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

test('the server says https:// and answers /healthz over TLS with security headers and HSTS', T, async () => {
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const r = await request(https, `${server.url}/healthz`, { rejectUnauthorized: false });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.body), { status: 'ok' });
  for (const [h, v] of Object.entries(SECURITY_HEADERS)) assert.equal(r.headers[h], v, h);
  const csp = r.headers['content-security-policy'];
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline/, 'no inline script');
  assert.match(r.headers['strict-transport-security'], /^max-age=\d{7,}/);
});

test('errors and authenticated /v1 answers over TLS carry HSTS too', T, async () => {
  const denied = await request(https, `${server.url}/v1/runs`, { rejectUnauthorized: false });
  assert.equal(denied.status, 401);
  assert.ok(denied.headers['strict-transport-security']);
  const ok = await request(https, `${server.url}/v1/secrets`,
    { rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` } });
  assert.equal(ok.status, 200, ok.body);
  assert.ok(ok.headers['strict-transport-security']);
  assert.equal(ok.headers['cache-control'], 'no-store');
  // A change waits for the engine's commit on a suspended connection: the
  // deferred reply must come back over TLS as well.
  const put = await request(https, `${server.url}/v1/secrets/tls-check`, {
    method: 'PUT', rejectUnauthorized: false, body: JSON.stringify({ value: 'over-tls' }),
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  });
  assert.equal(put.status, 201, put.body);
  assert.ok(put.headers['strict-transport-security']);
  const missing = await request(https, `${server.url}/no/such/path`, { rejectUnauthorized: false });
  assert.equal(missing.status, 404);
  assert.ok(missing.headers['strict-transport-security']);
});

test('the certificate served is the one given', T, async () => {
  const cert = await new Promise((resolve, reject) => {
    const req = https.request(`${server.url}/healthz`, { rejectUnauthorized: false }, (res) => {
      resolve(res.socket.getPeerCertificate());
      res.resume();
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(cert.subject.CN, 'localhost');
});

test('plain HTTP to the TLS port gets no HTTP answer', T, async () => {
  const plain = server.url.replace(/^https:/, 'http:');
  await assert.rejects(request(http, `${plain}/healthz`));
});

test('without TLS flags there is no HSTS (plain HTTP is not pinned)', T, async () => {
  const s = await serve([]);
  try {
    assert.match(s.url, /^http:\/\//);
    const r = await request(http, `${s.url}/healthz`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['strict-transport-security'], undefined);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  } finally {
    assert.equal((await stop(s)).code, 0);
  }
});

test('one TLS flag without the other is a usage error (exit 2)', T, async () => {
  await assert.rejects(serve(['--tls-cert', files.cert]), (e) => {
    assert.equal(e.code, 2);
    assert.match(e.message, /--tls-cert and --tls-key go together/);
    return true;
  });
  await assert.rejects(serve([], { SPOJIT_TLS_KEY: files.key }), (e) => e.code === 2);
});

test('an unreadable file, a non-PEM file or a key of another certificate stops the server with a clear error', T, async () => {
  const cases = [
    [['--tls-cert', path.join(dir, 'nope.pem'), '--tls-key', files.key], /--tls-cert .*nope\.pem: No such file/],
    [['--tls-cert', files.cert, '--tls-key', path.join(dir, 'spojit.db.key')], /not PEM/],
    [['--tls-cert', files.cert, '--tls-key', files.otherKey], /TLS certificate or key was refused/],
  ];
  for (const [args, pattern] of cases) {
    await assert.rejects(serve(args), (e) => {
      assert.equal(e.code, 1, e.message);
      assert.match(e.message, pattern);
      return true;
    });
  }
});

test('the environment twins SPOJIT_TLS_CERT and SPOJIT_TLS_KEY serve HTTPS too', T, async () => {
  const s = await serve([], { SPOJIT_TLS_CERT: files.cert, SPOJIT_TLS_KEY: files.key });
  try {
    assert.match(s.url, /^https:\/\//);
    const r = await request(https, `${s.url}/healthz`, { rejectUnauthorized: false });
    assert.equal(r.status, 200);
  } finally {
    assert.equal((await stop(s)).code, 0);
  }
});
