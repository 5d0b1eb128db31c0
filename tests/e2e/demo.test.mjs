// `serve --demo` tells the whole refund story with nothing else running: the
// example agent drafts, finance decides (sends it back once, then approves
// the revision, which never passes unseen), and the payments stand-in gets
// the refund once.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';

import { REPO, Server, describeResponse } from './lib/server.mjs';
import { waitRun } from './lib/world.mjs';

const T = { timeout: 120_000 };

function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

test('the demo refund: the example agent proposes, a rejection sends it back, the smaller refund is sent once', T, async () => {
  const port = await freePort();
  const srv = new Server({
    args: ['--demo', '--examples', path.join(REPO, 'examples'), '--listen', `127.0.0.1:${port}`],
    env: { SPOJIT_LLM_URL: '' },
  });
  try {
    await srv.start();
    assert.match(srv.stderr, /example agent answers at http:\/\/127\.0\.0\.1/);
    const alice = await srv.createKey('alice');
    const started = await srv.api('POST', '/v1/runs?wait=20', {
      body: { workflow: 'refund-agent', input: { customer: { id: 'vip-42', tier: 'vip' }, charge: 'ch_123', amount: 612, ticket: 'T-1001' } },
    });
    assert.equal(started.status, 201, describeResponse(started));
    let run = started.json;
    assert.equal(run.status, 'waiting', JSON.stringify(run));
    const draft = run.steps.find((s) => s.id === 'draft');
    assert.deepEqual(draft.output.arguments, { charge: 'ch_123', amount: 612, currency: 'usd' });
    assert.match(draft.output.reasoning, /never shipped/);

    const inbox = (await srv.api('GET', '/v1/approvals', { token: alice })).json.items;
    assert.equal(inbox.length, 1, 'in finance\'s inbox');
    assert.equal(inbox[0].reasoning, draft.output.reasoning, 'the gate shows the agent\'s reasoning');
    const rej = await srv.api('POST', `/v1/approvals/${inbox[0].id}/decisions`, {
      token: alice, body: { decision: 'reject', comment: 'too much for a late parcel' },
    });
    assert.equal(rej.status, 200, describeResponse(rej));

    // The agent offers half - 306, under the auto-approve limit of 500; a
    // revision after a rejection still goes back to a person.
    run = await waitRun(srv, run.id, { pred: (x) => x.status !== 'running' && x.waiting?.approval_id !== inbox[0].id });
    assert.equal(run.status, 'waiting', JSON.stringify(run));
    const drafts = run.steps.filter((s) => s.id === 'draft');
    assert.equal(drafts.length, 2, 'the rejection went back to the agent');
    assert.equal(drafts[1].output.arguments.amount, 306);
    assert.ok(JSON.stringify(drafts[1].output.transcript).includes('too much for a late parcel'));
    const revised = (await srv.api('GET', `/v1/approvals/${run.waiting.approval_id}`, { token: alice })).json;
    assert.equal(revised.status, 'pending', 'the revised refund waits for a person');
    assert.equal(revised.revision.number, 1);
    assert.equal(revised.revision.rejected.comment, 'too much for a late parcel');
    assert.equal(revised.revision.rejected.proposal.amount, 612);
    const ok = await srv.api('POST', `/v1/approvals/${revised.id}/decisions`, { token: alice, body: { decision: 'approve' } });
    assert.equal(ok.status, 200, describeResponse(ok));
    run = await waitRun(srv, run.id);
    const refund = run.steps.filter((s) => s.id === 'issue_refund').at(-1);
    assert.equal(refund.approval.auto, undefined, 'a person approved the smaller refund');
    assert.equal(refund.approval.decisions[0].by, 'alice');
    for (const s of run.steps) {
      assert.deepEqual(Object.keys(s).filter((k) => k.startsWith('_')), [], `no private members in step ${s.id}`);
    }
    assert.equal(run.status, 'completed', JSON.stringify(run));
    assert.equal(run.output.status, 200);
    assert.equal(run.output.body.amount, 306);
    assert.match(run.output.body.id, /^re_demo_/);
    await srv.stopClean();
  } finally {
    await srv.dispose();
  }
});

test('the demo publishes breaking news once its two editors, carol and dan, approve', T, async () => {
  const port = await freePort();
  const srv = new Server({
    args: ['--demo', '--examples', path.join(REPO, 'examples'), '--listen', `127.0.0.1:${port}`],
    env: { SPOJIT_LLM_URL: '' },
  });
  try {
    await srv.start();
    const carol = await srv.createKey('carol');
    const dan = await srv.createKey('dan');
    const started = await srv.api('POST', '/v1/runs?wait=20', {
      body: { workflow: 'publish-content', input: { headline: 'Storm', body: 'It rains a lot', breaking: true } },
    });
    assert.equal(started.status, 201, describeResponse(started));
    assert.equal(started.json.status, 'waiting', JSON.stringify(started.json));
    const id = started.json.waiting.approval_id;
    const gate = await srv.must('GET', `/v1/approvals/${id}`);
    assert.deepEqual(gate.json.assignees, ['team:editors'], 'routed as written: the editors can decide');
    for (const key of [carol, dan]) {
      const r = await srv.api('POST', `/v1/approvals/${id}/decisions`, { token: key, body: { decision: 'approve', comment: 'ok' } });
      assert.equal(r.status, 200, describeResponse(r));
    }
    const done = await waitRun(srv, started.json.id);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.output.published, true);
  } finally {
    await srv.stop();
  }
});
