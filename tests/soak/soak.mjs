// soak.mjs - `make soak SOAK_MINUTES=30`: a steady mixed load on the real
// server for a long time, sampled every SOAK_SAMPLE_SECONDS (10): resident
// memory, open file descriptors, threads, the WAL's size, and the p50/p99
// of decisions in that window. Writes a CSV and an SVG plot, and fails when
// something grows that should stay flat.
//
// The load is paced, not flat out: SOAK_RATE cycles a second (20), each
// cycle one refund run - a quarter auto-approved under the limit, the rest
// waiting at the gate and then approved (with an edit) or rejected - so a
// long run measures drift, not saturation. The server is the binary named
// by SPOJIT_BIN with a fresh database.
//
// Pass/fail (docs/operations/soak.md), each figure the median of a minute of
// samples so that noise is not taken for growth:
//   - RSS and open fds over the last minute are at most 10 % above their
//     value at the end of the warm-up (the first SOAK_WARMUP_MINUTES, 5, or
//     a fifth of a shorter soak);
//   - no later minute's decision p99 is more than twice the warm-up's;
//   - no request failed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { Server } from '../e2e/lib/server.mjs';
import { decide, refundInput, refundWorld, startRun } from '../e2e/lib/world.mjs';

const MINUTES = Number(process.env.SOAK_MINUTES || 30);
const SAMPLE_S = Number(process.env.SOAK_SAMPLE_SECONDS || 10);
const RATE = Number(process.env.SOAK_RATE || 20);
const WARMUP_MIN = Number(process.env.SOAK_WARMUP_MINUTES || Math.min(5, MINUTES / 5));
const OUT = path.resolve(process.env.SOAK_OUT || 'build/soak');
const CLIENTS = 8;

function procStat(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  const threads = Number(/Threads:\s+(\d+)/.exec(status)[1]);
  const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  return { rss_mb: kb / 1024, threads, fds };
}

function fileMb(p) {
  try {
    return fs.statSync(p).size / (1024 * 1024);
  } catch {
    return 0;
  }
}

function quantile(sorted, q) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// One line per series, each scaled to its own maximum: the shape is what
// matters (flat or growing); the CSV has the numbers.
function svgPlot(rows, series) {
  const W = 900, H = 420, L = 60, R = 200, T = 30, B = 40;
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
  const tMax = Math.max(...rows.map((r) => r.t_s), 1);
  const x = (t) => L + (t / tMax) * (W - L - R);
  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">\n`;
  out += `<rect width="${W}" height="${H}" fill="white"/>\n`;
  out += `<text x="${L}" y="18" font-size="14">spojit soak: ${MINUTES} min at ${RATE} cycles/s (each series scaled to its maximum)</text>\n`;
  out += `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>\n`;
  out += `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>\n`;
  for (let m = 0; m <= tMax / 60; m += Math.max(1, Math.round(tMax / 60 / 10))) {
    out += `<text x="${x(m * 60)}" y="${H - B + 16}" text-anchor="middle">${m} min</text>\n`;
  }
  series.forEach(([key, label], i) => {
    const max = Math.max(...rows.map((r) => r[key]), 1e-9);
    const y = (v) => H - B - (v / max) * (H - B - T);
    const pts = rows.map((r) => `${x(r.t_s).toFixed(1)},${y(r[key]).toFixed(1)}`).join(' ');
    out += `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" points="${pts}"/>\n`;
    out += `<text x="${W - R + 10}" y="${T + 18 * i + 10}" fill="${colors[i % colors.length]}">${label} (max ${max.toFixed(1)})</text>\n`;
  });
  return out + '</svg>\n';
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const srv = new Server();
  await srv.start();
  const pid = srv.proc.pid;
  const { keys } = await refundWorld(srv);
  const deciders = [keys.alice, keys.fiona];

  const latencies = [];          // decision ms in the current window
  const failures = [];
  let cycles = 0, stopping = false, n = 0;
  const startedAt = Date.now();
  const endAt = startedAt + MINUTES * 60_000;

  // A cycle every CLIENTS/RATE seconds per client: RATE a second in all.
  async function client(id) {
    const every = (CLIENTS / RATE) * 1000;
    let next = Date.now() + (id * every) / CLIENTS;
    while (!stopping && Date.now() < endAt) {
      const wait = next - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      next += every;
      const k = n++;
      try {
        const auto = k % 4 === 0;
        const run = await startRun(srv, 'refund', refundInput(auto ? 120 : 600 + (k % 300)), { token: keys.requester, wait: 10 });
        if (!auto) {
          assert.equal(run.status, 'waiting', `run ${run.id}: ${JSON.stringify(run).slice(0, 300)}`);
          const body = k % 3 === 0 ? { decision: 'reject', comment: `no ${k}` }
            : { decision: 'approve', comment: `ok ${k}`, edits: { '/amount': 500 } };
          const t0 = process.hrtime.bigint();
          const r = await decide(srv, run.waiting.approval_id, deciders[k % 2], body);
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          assert.equal(r.status, 200, `decision: ${r.status} ${r.text.slice(0, 300)}`);
        }
        cycles++;
      } catch (e) {
        failures.push(String(e.message || e).slice(0, 500));
      }
    }
  }

  const rows = [];
  const sampler = setInterval(() => {
    const s = procStat(pid);
    latencies.sort((a, b) => a - b);
    const row = {
      t_s: Math.round((Date.now() - startedAt) / 1000),
      rss_mb: s.rss_mb, fds: s.fds, threads: s.threads,
      wal_mb: fileMb(srv.dbPath + '-wal'), db_mb: fileMb(srv.dbPath),
      decisions: latencies.length,
      p50_ms: quantile(latencies, 0.5), p99_ms: quantile(latencies, 0.99),
      cycles,
    };
    latencies.length = 0;
    rows.push(row);
    process.stdout.write(`${(row.t_s / 60).toFixed(1)} min: rss ${row.rss_mb.toFixed(1)} MB, fds ${row.fds}, ` +
      `threads ${row.threads}, wal ${row.wal_mb.toFixed(1)} MB, db ${row.db_mb.toFixed(1)} MB, ` +
      `decisions ${row.decisions} p50 ${row.p50_ms.toFixed(1)} ms p99 ${row.p99_ms.toFixed(1)} ms, cycles ${cycles}\n`);
  }, SAMPLE_S * 1000);

  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
  stopping = true;
  clearInterval(sampler);
  await srv.stopClean();

  const cols = ['t_s', 'rss_mb', 'fds', 'threads', 'wal_mb', 'db_mb', 'decisions', 'p50_ms', 'p99_ms', 'cycles'];
  fs.writeFileSync(path.join(OUT, 'soak.csv'),
    cols.join(',') + '\n' + rows.map((r) => cols.map((c) => (typeof r[c] === 'number' && !Number.isInteger(r[c]) ? r[c].toFixed(2) : r[c])).join(',')).join('\n') + '\n');
  fs.writeFileSync(path.join(OUT, 'soak.svg'), svgPlot(rows, [
    ['rss_mb', 'RSS MB'], ['fds', 'open fds'], ['threads', 'threads'], ['wal_mb', 'WAL MB'], ['p99_ms', 'decision p99 ms'], ['p50_ms', 'decision p50 ms'],
  ]));
  await srv.dispose();

  // The verdict.
  const problems = [];
  if (failures.length) problems.push(`${failures.length} cycles failed, first: ${failures[0]}`);
  // Growth, not noise: open fds move with the clients' connections and a
  // window's p99 with whatever else the machine does, so each figure is the
  // median over a minute of samples - at the end of the warm-up, and over
  // the last minute (and every later minute for the p99).
  const perMinute = Math.max(1, Math.round(60 / SAMPLE_S));
  const median = (xs) => quantile([...xs].sort((a, b) => a - b), 0.5);
  const warm = rows.filter((r) => r.t_s <= WARMUP_MIN * 60);
  const later = rows.filter((r) => r.t_s > WARMUP_MIN * 60);
  if (warm.length < 2 || later.length < 2) problems.push(`too short: ${rows.length} samples`);
  else {
    const warmEnd = warm.slice(-perMinute), end = later.slice(-perMinute);
    const figures = {};
    for (const key of ['rss_mb', 'fds']) {
      const before = median(warmEnd.map((r) => r[key])), after = median(end.map((r) => r[key]));
      figures[key] = [before, after];
      if (after > before * 1.10) problems.push(`${key} grew from ${before.toFixed(1)} to ${after.toFixed(1)} after the warm-up (> 10 %)`);
    }
    const warmP99 = median(warmEnd.map((r) => r.p99_ms));
    let worst = 0;
    for (let i = 0; i + perMinute <= later.length; i += perMinute)
      worst = Math.max(worst, median(later.slice(i, i + perMinute).map((r) => r.p99_ms)));
    if (worst > 2 * warmP99) problems.push(`decision p99 drifted from ${warmP99.toFixed(1)} ms to ${worst.toFixed(1)} ms (> 2x)`);
    console.log(`soak: ${MINUTES} min, ${cycles} cycles; after the ${WARMUP_MIN}-minute warm-up, then over the last minute: ` +
      `RSS ${figures.rss_mb[0].toFixed(1)} -> ${figures.rss_mb[1].toFixed(1)} MB (peak ${Math.max(...rows.map((r) => r.rss_mb)).toFixed(1)}), ` +
      `fds ${figures.fds[0]} -> ${figures.fds[1]}, threads ${later.at(-1).threads}, ` +
      `WAL peak ${Math.max(...rows.map((r) => r.wal_mb)).toFixed(1)} MB, database ${later.at(-1).db_mb.toFixed(0)} MB; ` +
      `decision p99 ${warmP99.toFixed(1)} ms, worst later minute ${worst.toFixed(1)} ms`);
  }
  console.log(`soak: wrote ${path.join(OUT, 'soak.csv')} and soak.svg`);
  if (problems.length) {
    console.error('soak FAILED:\n  ' + problems.join('\n  '));
    process.exit(1);
  }
  console.log('soak: ok');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
