// Shared scenery: the refund example's people, inputs and waiting helpers.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { EXAMPLES, describeResponse, sleep } from './server.mjs';

export const REFUND_YAML = fs.readFileSync(path.join(EXAMPLES, 'refund.yaml'), 'utf8');

export function refundInput(amount, tier = 'vip', extra = {}) {
  return {
    customer: { id: `${tier}-42`, tier, email: 'ana@example.com' },
    charge: 'ch_123',
    amount,
    ticket: 'T-1001',
    ...extra,
  };
}

// team finance (alice, fiona), team support-leads (bob), dave (no team),
// requester (no team, starts runs). Returns their member keys.
export async function refundWorld(srv) {
  const applied = await srv.applyWorkflow(REFUND_YAML);
  assert.equal(applied.name, 'refund');
  const keys = {};
  keys.alice = await srv.userWithKey('alice', { teams: ['finance'] });
  keys.fiona = await srv.userWithKey('fiona', { teams: ['finance'] });
  keys.bob = await srv.userWithKey('bob');
  await srv.createTeam('support-leads', ['bob']);
  keys.dave = await srv.userWithKey('dave');
  keys.requester = await srv.userWithKey('requester');
  return { keys, version: applied.version };
}

export const FINAL = new Set(['completed', 'failed', 'canceled']);

// Long-polls a run until pred(run) holds (default: a final status).
export async function waitRun(srv, id, { token, pred = (r) => FINAL.has(r.status), timeoutMs = 120_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    const r = await srv.api('GET', `/v1/runs/${id}?wait=10`, { token });
    assert.equal(r.status, 200, `GET /v1/runs/${id}: ${describeResponse(r)}`);
    last = r.json;
    if (pred(last)) return last;
    if (FINAL.has(last.status)) break;
    if (last.status !== 'running') await sleep(100);
  }
  assert.fail(`run ${id} did not reach the expected state; last seen: ${JSON.stringify(last)}`);
}

// Starts a run (POST /v1/runs?wait=) and returns the run body.
export async function startRun(srv, workflow, input, { token, wait = 30, headers, expect = 201 } = {}) {
  const r = await srv.api('POST', `/v1/runs?wait=${wait}`, { token, body: { workflow, input }, headers });
  assert.equal(r.status, expect, `POST /v1/runs ${workflow}: ${describeResponse(r)}`);
  return r.json;
}

// Starts a run that must pause at a gate; returns {run, approvalId}.
export async function startWaiting(srv, workflow, input, opts = {}) {
  let run = await startRun(srv, workflow, input, opts);
  if (run.status === 'running') run = await waitRun(srv, run.id, { token: opts.token, pred: (x) => x.status !== 'running' });
  assert.equal(run.status, 'waiting', `run ${run.id} should wait at a gate: ${JSON.stringify(run)}`);
  assert.equal(run.waiting?.type, 'approval', `run ${run.id} waiting: ${JSON.stringify(run.waiting)}`);
  assert.match(String(run.waiting.approval_id), /^apr_[A-Za-z0-9_-]+$/);
  return { run, approvalId: run.waiting.approval_id };
}

export async function inbox(srv, token) {
  const r = await srv.api('GET', '/v1/approvals', { token });
  assert.equal(r.status, 200, `GET /v1/approvals: ${describeResponse(r)}`);
  assert.ok(Array.isArray(r.json?.items), `inbox has items: ${r.text.slice(0, 500)}`);
  return r.json.items;
}

export async function decide(srv, id, token, body) {
  return srv.api('POST', `/v1/approvals/${id}/decisions`, { token, body });
}

export function countBy(rows, keyFn) {
  const m = new Map();
  for (const r of rows) {
    const k = keyFn(r);
    m.set(k, (m.get(k) || 0) + 1);
  }
  return m;
}
