// kill -9 in the middle of a stream of decisions: every acknowledged decision
// survives exactly once, the rest can be re-sent, and no step runs twice.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { describeResponse, pool, sleep, sqlite, until, useServer } from './lib/server.mjs';
import { countBy, decide, startWaiting, waitRun } from './lib/world.mjs';

const srv = useServer({ args: ['--test-clock'] });   // the timer test moves time

const WF = `
name: crashy
steps:
  - id: prep
    transform: '{n: .input.n, amount: (.input.n * 10)}'
  - id: gate
    approval:
      title: "crash {{ .input.n }}"
      proposal: .steps.prep.output
      to: [user:approver]
      require_comment: never
  - id: book
    transform: '{booked: .steps.gate.output.amount}'
  - id: finish
    succeed: {output: .steps.book.output}
`;

test('kill -9 during 300 concurrent approvals: acknowledged decisions survive exactly once, all runs complete, no step runs twice', { timeout: 600_000 }, async () => {
  await srv.applyWorkflow(WF);
  const approver = await srv.userWithKey('approver');
  const starter = await srv.userWithKey('starter');

  const N = 300;
  const started = await pool(Array.from({ length: N }, (_, i) => i), 12,
    (i) => startWaiting(srv, 'crashy', { n: i }, { token: starter }));
  const gates = started.map((s) => s.approvalId);
  const runs = started.map((s) => s.run.id);
  assert.equal(new Set(gates).size, N);

  // The stream: 8 decisions in flight; kill -9 once 100 are acknowledged.
  const outcome = new Array(N).fill('unsent');   // 'acked' | 'error' | 'unsent'
  const early = [];                               // non-200 answers before the kill
  let acked = 0, next = 0, killed = false;
  let killing = null;
  async function worker() {
    while (!killed && next < N) {
      const i = next++;
      try {
        const r = await decide(srv, gates[i], approver, { decision: 'approve', comment: `ok ${i}` });
        if (r.status === 200) {
          outcome[i] = 'acked';
          acked++;
        } else {
          outcome[i] = 'error';
          if (!killed) early.push(`${gates[i]}: ${describeResponse(r)}`);
        }
      } catch (e) {
        outcome[i] = 'error';
        if (!killed) early.push(`${gates[i]}: ${e.message}`);
      }
      if (acked >= 100 && !killed) {
        killed = true;
        killing = srv.kill9();
      }
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.ok(killed, `the server was killed mid-stream (acked ${acked})`);
  const res = await killing;
  assert.equal(res.signal, 'SIGKILL', 'the server died of the kill, not of something else');
  assert.deepEqual(early, [], 'no decision failed before the kill');
  assert.ok(acked >= 100 && acked < N, `acked ${acked}`);

  await srv.start();   // the same store

  // every acknowledged decision is there, exactly once
  const ackedIdx = [...outcome.keys()].filter((i) => outcome[i] === 'acked');
  await pool(ackedIdx, 8, async (i) => {
    const r = await srv.api('GET', `/v1/approvals/${gates[i]}`);
    assert.equal(r.status, 200, describeResponse(r));
    const mine = r.json.decisions.filter((d) => d.by === 'approver');
    assert.equal(mine.length, 1, `acknowledged decision on ${gates[i]} after restart: ${JSON.stringify(r.json.decisions)}`);
    assert.equal(mine[0].comment, `ok ${i}`);
    assert.equal(r.json.status, 'approved');
  });

  // the others may or may not have landed: 409 if they did, else 200
  const rest = [...outcome.keys()].filter((i) => outcome[i] !== 'acked');
  let landed = 0;
  await pool(rest, 8, async (i) => {
    const before = (await srv.api('GET', `/v1/approvals/${gates[i]}`)).json;
    const r = await decide(srv, gates[i], approver, { decision: 'approve', comment: `retry ${i}` });
    if (before.status === 'pending') {
      assert.equal(before.decisions.length, 0);
      assert.equal(r.status, 200, `re-deciding a pending gate ${gates[i]}: ${describeResponse(r)}`);
    } else {
      landed++;
      assert.equal(outcome[i], 'error', `a gate never sent (${gates[i]}) was decided anyway: ${JSON.stringify(before)}`);
      assert.equal(r.status, 409, `re-deciding a gate whose decision landed ${gates[i]}: ${describeResponse(r)}`);
    }
    const after = (await srv.api('GET', `/v1/approvals/${gates[i]}`)).json;
    assert.equal(after.status, 'approved');
    assert.equal(after.decisions.length, 1, `${gates[i]} decisions: ${JSON.stringify(after.decisions)}`);
  });
  assert.ok(landed <= 8, `at most the in-flight decisions (8) can have landed unacknowledged, saw ${landed}`);

  // all runs complete, each step once
  await pool(runs, 8, async (id, i) => {
    const done = await waitRun(srv, id);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.deepEqual(done.output, { booked: i * 10 });
    const ids = done.steps.map((s) => s.id);
    assert.deepEqual(ids, ['prep', 'gate', 'book', 'finish'], `steps of ${id} (no duplicates, in order)`);
    const rows = await srv.audit({ run_id: id });
    assert.ok(rows.every((x) => x.run_id === id), 'the run_id filter holds');
    const completed = countBy(rows.filter((x) => x.type === 'step.completed'), (x) => `${x.data?.step}#${x.data?.visit}`);
    for (const [k, c] of completed) assert.equal(c, 1, `${id}: step.completed for ${k} appears ${c} times`);
    for (const s of ['prep', 'book', 'finish']) {
      assert.ok([...completed.keys()].some((k) => k.startsWith(`${s}#`)), `${id}: step.completed for ${s} is in the trail`);
    }
    const started = countBy(rows.filter((x) => x.type === 'step.started'), (x) => `${x.data?.step}#${x.data?.visit}`);
    for (const [k, c] of started) assert.ok(c <= 1, `${id}: step.started for ${k} appears ${c} times`);
    assert.equal(rows.filter((x) => x.type === 'run.ended').length, 1, `${id}: one run.ended`);
    assert.equal(rows.filter((x) => x.type === 'gate.resolved').length, 1, `${id}: one gate.resolved`);
    assert.equal(rows.filter((x) => x.type === 'decision').length, 1, `${id}: one decision`);
  });

  const v = await srv.api('GET', '/v1/audit/verify');
  assert.equal(v.status, 200, describeResponse(v));
  assert.equal(v.json.ok, true, `audit chain after kill -9: ${v.text}`);
});

const TIMED = `
name: timed
steps:
  - id: prep
    transform: '{n: .input.n}'
  - id: gate
    approval:
      title: "timed {{ .input.n }}"
      to: [user:approver]
      timeout: 1h
      on_timeout: reject
    on_reject: declined
  - id: booked
    transform: '{booked: .input.n}'
    next: end
  - id: declined
    transform: '{declined: .input.n}'
`;

test('kill -9 at random moments while 1,000 timers fall due: each fires exactly once, none is lost', { timeout: 600_000 }, async () => {
  await srv.applyWorkflow(TIMED);
  const token = await srv.userWithKey('timed-starter');
  const N = 1000;
  const started = await pool(Array.from({ length: N }, (_, i) => i), 12,
    (i) => startWaiting(srv, 'timed', { n: i }, { token }));
  const gates = new Set(started.map((s) => s.approvalId));

  // Move the clock past the timeouts and kill the server while it fires
  // them, at seeded pseudo-random moments - each a moment when this process
  // had fired some (a batch is committed: spojit_timers_fired_total moved)
  // and, as the store shows once it is dead, not all. A moment that missed
  // (everything had fired, or nothing) is drawn again.
  let seed = 20261125;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pendingInStore = () => Number(sqlite(srv.dbPath, 'SELECT count(*) FROM timers').trim());
  const KILLS = 6, DRAWS = 30;
  let pending = await srv.metric('spojit_timers_pending');
  assert.equal(pending, N, 'one timeout timer per gate, nothing else');
  const kills = [];                               // [pending before, pending after] per interrupting kill
  const draws = [];
  while (kills.length < KILLS) {
    assert.ok(draws.length < DRAWS, `${KILLS} kills that interrupt the timers within ${DRAWS} draws; ` +
      `pending before -> after each: ${draws.join(', ')}`);
    let answered = false;
    const moving = srv.api('POST', '/v1/admin/clock', { body: { advance: '2h' } })
      .then((r) => { answered = true; return r; }, (e) => e);
    await until(async () => answered || (await srv.metric('spojit_timers_fired_total')) > 0,
      { every: 5, what: 'the first timers fired' });
    await sleep(Math.floor(rand() * 15));
    const res = await srv.kill9();
    assert.equal(res.signal, 'SIGKILL', 'the server died of the kill');
    const moved = await moving;
    const left = pendingInStore();
    if (moved instanceof Error) {
      assert.ok(moved.network, `the clock move failed only for the kill: ${moved.message}`);
    } else {
      // it answered before the kill: every due timer had fired, and it says so
      assert.equal(moved.status, 200, describeResponse(moved));
      assert.match(moved.json.now, /^\d{4}-\d\d-\d\dT/, moved.text);
      assert.equal(moved.json.timers_pending, 0, `every timer was due: ${moved.text}`);
      assert.equal(left, 0, 'the store agrees');
    }
    draws.push(`${pending}->${left}`);
    assert.ok(left <= pending, `timers came back: ${pending} -> ${left}`);
    if (left > 0 && left < pending) kills.push([pending, left]);
    else assert.ok(left > 0, `every timer fired before ${KILLS} interrupting kills (${draws.join(', ')})`);
    pending = left;
    await srv.start();
  }
  console.log(`timers pending before -> after each kill -9: ${draws.join(', ')}`);
  const last = await srv.api('POST', '/v1/admin/clock', { body: { advance: '2h' } });
  assert.equal(last.status, 200, describeResponse(last));
  assert.equal(last.json.timers_pending, 0, 'no timer is left');
  assert.equal(pendingInStore(), 0, 'the store has no timer left');

  const rows = (await srv.audit()).filter((row) => gates.has(row.approval_id));
  const expired = countBy(rows.filter((row) => row.type === 'gate.expired'), (row) => row.approval_id);
  const twice = [...expired].filter(([, n]) => n !== 1);
  assert.deepEqual(twice, [], 'no gate expired twice');
  assert.equal(expired.size, N, 'every gate expired');

  const ends = await pool(started, 12, (s) => waitRun(srv, s.run.id));
  const wrong = ends.filter((r) => r.status !== 'completed' ||
    r.steps.filter((s) => s.id === 'declined').length !== 1 || r.steps.some((s) => s.id === 'booked'));
  assert.deepEqual(wrong.map((r) => r.id), [], 'every run took on_reject exactly once');
});
