// Run input that breaks libjq cannot take the server down: every expression
// runs in an evaluator process, so an abort, a segfault, a loop in C or a
// giant allocation fails that step (on_error applies) with a clear error,
// and the server, its memory and its other runs are untouched - also across
// a restart.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';

import { describeResponse, useServer } from './lib/server.mjs';
import { startRun, waitRun } from './lib/world.mjs';

const T = { timeout: 300_000 };
const srv = useServer({ args: ['--test-clock'] });

// The server's own resident memory may not grow past this whatever the
// input (docs/internals/expr.md): the evaluators hold what jq allocates.
const SERVER_RSS_BOUND_MIB = 150;

let member;

async function healthy(what) {
  assert.ok(srv.alive, `the server died after ${what}; stderr:\n${srv.tail()}`);
  const r = await srv.api('GET', '/healthz', { token: null });
  assert.equal(r.status, 200, `GET /healthz after ${what}: ${describeResponse(r)}`);
}

function rssMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

// The server's live children: the evaluator processes. None may be a zombie.
function children(pid) {
  const out = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try { stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8'); } catch { continue; }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid) out.push({ pid: Number(entry), state: fields[0] });
  }
  return out;
}

async function advance(by) {
  const r = await srv.api('POST', '/v1/admin/clock', { body: { advance: by } });
  assert.equal(r.status, 200, describeResponse(r));
}

async function runOf(workflow, input) {
  const started = await startRun(srv, workflow, input, { token: member });
  return waitRun(srv, started.id, { token: member });
}

const step = (run, id) => run.steps.find((s) => s.id === id);

test('set-up: a member and the workflows', T, async () => {
  member = await srv.userWithKey('mallory');
  const flows = {
    due: `name: due
steps:
  - id: later
    wait: {for: 2s}
  - id: stamp
    transform: "{due: (.input.ts|todate)}"
`,
    fmt: `name: fmt
steps:
  - id: a
    transform: '[(.input.n|strftime("%Y")), (.input.n|todateiso8601), (.input.n|strflocaltime("%Y"))]'
`,
    slice: `name: slice
steps:
  - id: a
    transform: '.input.o as $o | [1, 2, 3] | .[($o|tonumber):]'
`,
    find: `name: find
steps:
  - id: a
    transform: '.input.k as $k | "abc" | index($k)'
`,
    grow: `name: grow
steps:
  - id: a
    transform: '.input.i as $i | [] | .[$i] = 1 | length'
`,
    big: `name: big
steps:
  - id: a
    transform: '"x" * .input.n'
`,
    guarded: `name: guarded
steps:
  - id: risky
    transform: "{due: (.input.ts|todate)}"
    on_error: fallback
  - id: fine
    transform: '"not reached"'
    next: end
  - id: fallback
    transform: '{fell_back: true, ts: .input.ts}'
`,
  };
  for (const text of Object.values(flows)) await srv.applyWorkflow(text);
});

test('todate on 1e18 after a wait fails its step, and the server stays up, also after a restart', T, async () => {
  const started = await startRun(srv, 'due', { ts: 1e18 }, { token: member, wait: 0 });
  const waiting = await waitRun(srv, started.id, { token: member, pred: (r) => r.status === 'waiting' });
  assert.equal(waiting.waiting?.type, 'wait');
  await advance('3s');
  const run = await waitRun(srv, started.id, { token: member });
  assert.equal(run.status, 'failed', JSON.stringify(run));
  assert.match(step(run, 'stamp').error.message, /crashed the evaluator process \(SIG[A-Z]+\)/);
  assert.match(step(run, 'stamp').error.message, /server is not affected/);
  await healthy('todate on 1e18');

  await srv.restart();
  await healthy('the restart');
  const again = (await srv.api('GET', `/v1/runs/${started.id}`, { token: member })).json;
  assert.equal(again.status, 'failed');

  // the same workflow with a sane value still works, through a new evaluator
  const ok = await startRun(srv, 'due', { ts: 0 }, { token: member, wait: 0 });
  await waitRun(srv, ok.id, { token: member, pred: (r) => r.status === 'waiting' });
  await advance('3s');
  const done = await waitRun(srv, ok.id, { token: member });
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.deepEqual(done.output, { due: '1970-01-01T00:00:00Z' });
});

test('strftime, todateiso8601 and strflocaltime beyond 6.7e16 fail the step only', T, async () => {
  for (const n of [1e17, 6.8e16, -1e17]) {
    const run = await runOf('fmt', { n });
    assert.equal(run.status, 'failed', `n=${n}: ${JSON.stringify(run)}`);
    assert.ok(step(run, 'a').error.message, `n=${n}: the step names its error`);
    await healthy(`strftime on ${n}`);
  }
  const run = await runOf('fmt', { n: 0 });
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.deepEqual(run.output, ['1970', '1970-01-01T00:00:00Z', '1970']);
});

test('a slice from "nan" and index("") fail the step only', T, async () => {
  const slice = await runOf('slice', { o: 'nan' });
  assert.equal(slice.status, 'failed', JSON.stringify(slice));
  assert.match(step(slice, 'a').error.message, /evaluator process|ran longer/);
  await healthy('a slice from nan');

  const find = await runOf('find', { k: '' });
  assert.equal(find.status, 'failed', JSON.stringify(find));
  assert.match(step(find, 'a').error.message, /ran longer than 1000 ms|evaluator process/);
  await healthy('index("")');

  assert.deepEqual((await runOf('slice', { o: '1' })).output, [2, 3]);
  assert.equal((await runOf('find', { k: 'c' })).output, 2);
});

test('an evaluation that would take gigabytes fails its step; the server stays small', T, async () => {
  for (const i of [1e8, 6e7]) {
    const run = await runOf('grow', { i });
    assert.equal(run.status, 'failed', `i=${i}: ${JSON.stringify(run).slice(0, 500)}`);
    assert.match(step(run, 'a').error.message, /evaluator process|more memory|ran longer/);
    await healthy(`an array of ${i}`);
    const rss = rssMiB(srv.proc.pid);
    assert.ok(rss < SERVER_RSS_BOUND_MIB, `the server's RSS is ${rss.toFixed(0)} MiB after i=${i}`);
  }
  // nothing huge was stored: the run list stays small
  const list = await srv.api('GET', '/v1/runs?limit=100', { token: member });
  assert.equal(list.status, 200);
  assert.ok(list.text.length < 1 << 20, `GET /v1/runs is ${list.text.length} bytes`);
  assert.equal((await runOf('grow', { i: 9 })).output, 10);
});

test('a result over 1 MiB fails its step with the size and the limit', T, async () => {
  const run = await runOf('big', { n: 1_100_000 });
  assert.equal(run.status, 'failed');
  assert.match(step(run, 'a').error.message, /result is \d+ bytes of JSON; the limit is 1048576/);
  const small = await runOf('big', { n: 3 });
  assert.equal(small.output, 'xxx');
});

test('on_error applies to a step whose evaluator crashed', T, async () => {
  const run = await runOf('guarded', { ts: 1e18 });
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.equal(step(run, 'risky').status, 'failed');
  assert.match(step(run, 'risky').error.message, /crashed the evaluator process/);
  assert.deepEqual(run.output, { fell_back: true, ts: 1e18 });
});

test('one evaluator process at most, and no zombies left by the crashes', T, async () => {
  const kids = children(srv.proc.pid);
  assert.ok(kids.length <= 1, `children: ${JSON.stringify(kids)}`);
  assert.ok(kids.every((k) => k.state !== 'Z'), `a zombie: ${JSON.stringify(kids)}`);
  await healthy('everything');
});
