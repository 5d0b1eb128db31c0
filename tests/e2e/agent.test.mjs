// The `agent` step against an OpenAI-compatible chat double and a
// Stripe-like sink (lib/doubles.mjs): the request it sends to the model, a
// read-only tool run inside its loop (the tool result going back with its
// tool_call_id), the proposed action shown at a gate with the model's
// reasoning, an edited approval refunding once, a rejection sent back to the
// agent with the approver's comment (on_reject: revise) and a new proposal,
// max_revisions, a text answer, the API key from $secrets kept out of the
// run and the audit trail, and max_turns.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';

import { startChat, startHub, startSink } from './lib/doubles.mjs';
import { cli, describeResponse, useServer } from './lib/server.mjs';
import { waitRun } from './lib/world.mjs';

const T = { timeout: 180_000 };
// A URL's host comes from $env only: each test's model and API are one
// path segment below the hub, $env.DOUBLES.
const hub = await startHub();
// Debug logging, so that "not in the log" covers everything the server says.
const srv = useServer({ args: ['--log-level', 'debug', ...hub.args], env: hub.env });
const LLM_KEY = `sk-llm-${crypto.randomBytes(18).toString('base64url')}`;
const keys = {};

const doubles = [];
async function chat(script, opts = {}) {
  const c = await startChat({ apiKey: LLM_KEY, ...opts, script, hub });
  doubles.push(c);
  return c;
}
async function sink(opts = {}) {
  const s = await startSink({ ...opts, hub });
  doubles.push(s);
  return s;
}
after(async () => {
  await Promise.all(doubles.map((d) => d.close()));
  await hub.close();
});

// ---- workflows -------------------------------------------------------------

const INSTRUCTIONS = 'You are a support agent. Propose a refund.';

const TOOLS = `
      tools:
        - name: lookup_charge
          description: Look up a charge
          parameters: {type: object, properties: {charge: {type: string}}, required: [charge]}
          safe: true
          http: {method: GET, url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/charges/{{ .arguments.charge }}"}
        - name: issue_refund
          parameters: {type: object, properties: {charge: {type: string}, amount: {type: integer}}}
`;

const agentStep = (extra = '') => `
  - id: draft
    agent:
      url: "{{ $env.DOUBLES }}/{{ .input.llm }}/v1"
      model: test-model
      api_key: "{{ $secrets.llm_key }}"
      instructions: ${INSTRUCTIONS}
      prompt: "Ticket {{ .input.ticket }} about charge {{ .input.charge }}"
${TOOLS}${extra}`;

const REFUND = `
name: agent-refund
steps:
${agentStep('      max_turns: 5\n      max_revisions: 2\n')}
  - id: issue_refund
    approval:
      title: "Refund {{ .steps.draft.output.arguments.amount }}"
      proposal: .steps.draft.output.arguments
      reasoning: .steps.draft.output.reasoning
      to: [team:finance]
      editable: [/amount]
    on_reject: revise
    http:
      method: POST
      url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"
      json: {charge: "{{ .proposal.charge }}", amount: "{{ .proposal.amount }}"}
`;

// The same, allowing one revision only.
const ONCE = REFUND.replace('name: agent-refund', 'name: agent-once').replace('max_revisions: 2', 'max_revisions: 1');

// The refund story's auto-approve limit: refunds up to 500 need no person.
const LIMIT = REFUND.replace('name: agent-refund', 'name: agent-limit')
  .replace('    approval:\n      title:', '    approval:\n      when: .steps.draft.output.arguments.amount > 500\n      title:');

// The agent alone: the run's output is its output.
const ALONE = `
name: agent-alone
steps:
${agentStep()}`;

// No api_key; a low max_turns.
const TURNS = `
name: agent-turns
steps:
  - id: draft
    agent:
      url: "{{ $env.DOUBLES }}/{{ .input.llm }}/v1"
      model: test-model
      instructions: ${INSTRUCTIONS}
      prompt: "Ticket {{ .input.ticket }} about charge {{ .input.charge }}"
${TOOLS}      max_turns: 3
  - id: after
    transform: '{after: true}'
`;

// Structured output: the answer is JSON checked against response_schema.
const TRIAGE_SCHEMA = {
  type: 'object',
  required: ['category', 'priority'],
  properties: { category: { enum: ['billing', 'bug', 'other'] }, priority: { type: 'integer', minimum: 1, maximum: 3 } },
  additionalProperties: false,
};
const TRIAGE = `
name: agent-triage
steps:
  - id: triage
    agent:
      url: "{{ $env.DOUBLES }}/{{ .input.llm }}/v1"
      model: test-model
      prompt: "Triage ticket {{ .input.ticket }}"
      response_schema: ${JSON.stringify(TRIAGE_SCHEMA)}
  - id: route
    transform: '{queue: .steps.triage.output.response.category}'
`;

before(async () => {
  const put = await srv.api('PUT', '/v1/secrets/llm_key', { body: { value: LLM_KEY } });
  assert.equal(put.status, 201, `PUT /v1/secrets/llm_key (new): ${describeResponse(put)}`);
  for (const wf of [REFUND, ONCE, LIMIT, ALONE, TURNS, TRIAGE]) await srv.applyWorkflow(wf);
  keys.alice = await srv.userWithKey('alice', { teams: ['finance'] });
}, T);

// ---- helpers ---------------------------------------------------------------

const input = (c, s, extra = {}) => ({ llm: c.id, sink: s.id, ticket: 'T-1', charge: 'ch_1', ...extra });

// Starts a run and returns it once it is no longer `running`.
async function settle(workflow, body) {
  const r = await srv.api('POST', '/v1/runs?wait=30', { body: { workflow, input: body } });
  assert.equal(r.status, 201, `POST /v1/runs ${workflow}: ${describeResponse(r)}`);
  if (r.json.status !== 'running') return r.json;
  return waitRun(srv, r.json.id, { pred: (x) => x.status !== 'running' });
}

function assertAtGate(run) {
  assert.equal(run.status, 'waiting', `the run waits at the gate: ${JSON.stringify(run)}`);
  assert.equal(run.waiting?.type, 'approval', JSON.stringify(run.waiting));
  return run.waiting.approval_id;
}

async function gate(id) {
  const r = await srv.api('GET', `/v1/approvals/${id}`, { token: keys.alice });
  assert.equal(r.status, 200, `GET /v1/approvals/${id}: ${describeResponse(r)}`);
  return r.json;
}

async function decide(id, body) {
  const r = await srv.api('POST', `/v1/approvals/${id}/decisions`, { token: keys.alice, body });
  assert.equal(r.status, 200, `deciding ${id} ${JSON.stringify(body)}: ${describeResponse(r)}`);
  return r.json;
}

const stepsOf = (run, id) => run.steps.filter((s) => s.id === id);
const stepOf = (run, id) => stepsOf(run, id).at(-1);
const charges = (s) => s.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/v1/charges/'));
const refundPosts = (s) => s.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds');
const text = (m) => (typeof m?.content === 'string' ? m.content : JSON.stringify(m?.content ?? ''));

// The script of the happy path: look the charge up, then propose.
const REASONING = 'The charge ch_1 is 1000.00 USD and the customer was double-billed: refund 612.';
const LOOKUP = { tool_calls: [{ name: 'lookup_charge', arguments: { charge: 'ch_1' } }] };
const PROPOSE = (amount, content) => ({ tool_calls: [{ name: 'issue_refund', arguments: { charge: 'ch_1', amount } }], content });

// OpenAI's API refuses a conversation in which an assistant message with
// tool_calls is not followed by one tool message per call id ("An assistant
// message with 'tool_calls' must be followed by tool messages responding to
// each 'tool_call_id'"), and a tool message that answers no call. Every
// request the step sends must pass that check, or it works against the
// doubles and fails against the real thing.
function assertValidConversation(messages, where) {
  const ctx = `${where}: ${JSON.stringify(messages)}`;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    assert.ok(['system', 'user', 'assistant', 'tool'].includes(m.role), `message ${i} has a role: ${ctx}`);
    if (m.role === 'tool') {
      assert.ok(typeof m.tool_call_id === 'string' && m.tool_call_id, `tool message ${i} has a tool_call_id: ${ctx}`);
      assert.equal(typeof m.content, 'string', `tool message ${i} content is text: ${ctx}`);
    }
    if (m.role !== 'assistant' || !m.tool_calls?.length) {
      if (m.role === 'tool') {
        const prev = messages.slice(0, i).findLast((x) => x.role !== 'tool');
        assert.ok(prev?.role === 'assistant' && prev.tool_calls?.some((c) => c.id === m.tool_call_id),
          `tool message ${i} answers a call of the assistant message before it: ${ctx}`);
      }
      continue;
    }
    const ids = m.tool_calls.map((c) => c.id);
    const answers = [];
    for (let j = i + 1; j < messages.length && messages[j].role === 'tool'; j++) answers.push(messages[j].tool_call_id);
    assert.deepEqual([...answers].sort(), [...ids].sort(),
      `assistant message ${i} with tool_calls ${JSON.stringify(ids)} is followed by one tool message per call (OpenAI refuses it otherwise): ${ctx}`);
  }
}

const assertValidRequests = (c) => c.requests.forEach((r, i) => assertValidConversation(r.messages, `model request ${i + 1}`));

// The model's first request: the model, system and user messages, the tools.
function checkFirstRequest(req) {
  assert.equal(req.model, 'test-model');
  assert.deepEqual(req.messages.slice(0, 2), [
    { role: 'system', content: INSTRUCTIONS },
    { role: 'user', content: 'Ticket T-1 about charge ch_1' },
  ]);
  assert.equal(req.messages.length, 2, `only the system and user messages: ${JSON.stringify(req.messages)}`);
  assert.ok(Array.isArray(req.tools), `tools: ${JSON.stringify(req.tools)}`);
  assert.deepEqual(req.tools.map((t) => t.type), ['function', 'function']);
  const [lookup, refund] = req.tools.map((t) => t.function);
  assert.equal(lookup.name, 'lookup_charge');
  assert.equal(lookup.description, 'Look up a charge');
  assert.deepEqual(lookup.parameters, { type: 'object', properties: { charge: { type: 'string' } }, required: ['charge'] });
  assert.equal(refund.name, 'issue_refund');
  assert.deepEqual(refund.parameters, { type: 'object', properties: { charge: { type: 'string' }, amount: { type: 'integer' } } });
  for (const t of req.tools) {
    const extra = Object.keys(t.function).filter((k) => !['name', 'description', 'parameters'].includes(k));
    assert.deepEqual(extra, [], `no workflow-only settings (safe, http) reach the model: ${JSON.stringify(t)}`);
  }
}

// The second request: the first two messages, the assistant's tool call and
// the tool's answer (the charge as the sink gave it) with its tool_call_id.
function checkToolResult(req, s) {
  assert.equal(req.messages.length, 4, `system, user, assistant, tool: ${JSON.stringify(req.messages)}`);
  const [, , assistant, tool] = req.messages;
  assert.equal(assistant.role, 'assistant');
  assert.equal(assistant.tool_calls?.length, 1, JSON.stringify(assistant));
  const call = assistant.tool_calls[0];
  assert.equal(call.id, 'call_1');
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'lookup_charge');
  assert.deepEqual(JSON.parse(call.function.arguments), { charge: 'ch_1' });
  assert.equal(tool.role, 'tool');
  assert.equal(tool.tool_call_id, 'call_1');
  assert.equal(typeof tool.content, 'string', 'the tool result is text');
  assert.deepEqual(JSON.parse(tool.content), charges(s)[0].response, 'the tool result is the body the sink answered');
}

// ---- (a) a lookup, a proposal, an edited approval ---------------------------

test('the agent looks the charge up, proposes a refund with its reasoning; the gate shows it; an approval with an edit refunds 550 once', T, async () => {
  const c = await chat([LOOKUP, PROPOSE(612, REASONING)]);
  const s = await sink();
  const run = await settle('agent-refund', input(c, s));
  const approvalId = assertAtGate(run);

  // the read-only tool ran: one GET of the charge
  assert.equal(charges(s).length, 1, `one lookup: ${JSON.stringify(s.requests.map((r) => `${r.method} ${r.path}`))}`);
  assert.equal(charges(s)[0].path, '/v1/charges/ch_1');
  assert.equal(charges(s)[0].status, 200);
  assert.equal(refundPosts(s).length, 0, 'nothing is refunded before the decision');

  // what the model was sent
  assert.equal(c.requests.length, 2, 'two model calls');
  checkFirstRequest(c.requests[0]);
  checkToolResult(c.requests[1], s);
  assertValidRequests(c);
  assert.deepEqual(c.requests[1].messages.slice(0, 2), c.requests[0].messages.slice(0, 2));
  assert.ok(c.log.every((l) => l.headers.authorization === `Bearer ${LLM_KEY}`), 'the api_key went as the bearer');

  // the agent step's output
  const draft = stepOf(run, 'draft');
  assert.equal(draft.status, 'completed');
  assert.equal(draft.output.tool, 'issue_refund');
  assert.deepEqual(draft.output.arguments, { charge: 'ch_1', amount: 612 }, 'the arguments, parsed');
  assert.equal(draft.output.reasoning, REASONING);
  const tr = draft.output.transcript;
  assert.ok(Array.isArray(tr), `transcript: ${JSON.stringify(tr)}`);
  assert.deepEqual(tr.slice(0, 2), c.requests[0].messages.slice(0, 2));
  assert.ok(tr.some((m) => m.role === 'tool' && m.tool_call_id === 'call_1'), 'the transcript holds the tool result');

  // the gate
  const g = await gate(approvalId);
  assert.equal(g.status, 'pending');
  assert.equal(g.step, 'issue_refund');
  assert.equal(g.title, 'Refund 612');
  assert.deepEqual(g.proposal, { charge: 'ch_1', amount: 612 });
  assert.equal(g.reasoning, REASONING);
  assert.deepEqual(g.assignees, ['team:finance']);

  const d = await decide(approvalId, { decision: 'approve', edits: { '/amount': 550 } });
  assert.equal(d.status, 'approved');
  const done = await waitRun(srv, run.id);
  assert.equal(done.status, 'completed', JSON.stringify(done));

  const posts = refundPosts(s);
  assert.equal(posts.length, 1, `one refund request: ${JSON.stringify(posts.map((p) => p.body))}`);
  assert.deepEqual(posts[0].body, { charge: 'ch_1', amount: 550 }, 'the edited amount, a number');
  assert.equal(posts[0].idempotencyKey, `${run.id}/issue_refund/1`);
  assert.deepEqual([...s.applied()], [[`${run.id}/issue_refund/1`, 1]]);
  assert.equal(s.refunds.length, 1);
  assert.equal(s.refunds[0].amount, 550);
  assert.equal(c.requests.length, 2, 'no model call after the decision');
  assert.equal(stepOf(done, 'issue_refund').status, 'completed');
  assert.equal(stepOf(done, 'issue_refund').output.body.amount, 550);
});

// ---- (b) a rejection sent back to the agent ---------------------------------

test('a rejection with a comment goes back to the agent (on_reject: revise); its new proposal opens a new gate; approving it refunds 300 once', T, async () => {
  const COMMENT = 'too much, offer 300';
  const REVISED = 'The approver asked for 300; proposing 300.';
  const c = await chat([LOOKUP, PROPOSE(612, REASONING), PROPOSE(300, REVISED)]);
  const s = await sink();
  const run = await settle('agent-refund', input(c, s));
  const first = assertAtGate(run);
  assert.equal((await gate(first)).proposal.amount, 612);

  // a rejection needs a comment (require_comment defaults to reject)
  const bare = await srv.api('POST', `/v1/approvals/${first}/decisions`, { token: keys.alice, body: { decision: 'reject' } });
  assert.equal(bare.status, 422, `a reject with no comment is refused: ${describeResponse(bare)}`);
  assert.equal(c.requests.length, 2);

  const rej = await decide(first, { decision: 'reject', comment: COMMENT });
  assert.equal(rej.status, 'rejected');
  const again = await waitRun(srv, run.id, { pred: (x) => x.status !== 'running' && x.waiting?.approval_id !== first });
  const second = assertAtGate(again);
  assert.notEqual(second, first, 'a new gate');

  // the model's third request: the earlier conversation, then the comment
  assert.equal(c.requests.length, 3, 'one more model call');
  const prev = c.requests[1].messages;
  const third = c.requests[2].messages;
  assert.deepEqual(third.slice(0, prev.length), prev, 'the revision starts from the previous transcript');
  const added = third.slice(prev.length);
  const feedback = added.filter((m) => m.role === 'user' && text(m).includes(COMMENT));
  assert.equal(feedback.length, 1, `a user message with the comment: ${JSON.stringify(added)}`);
  assert.ok(text(feedback[0]).includes('612'), `the rejected proposal goes back with the comment: ${text(feedback[0])}`);
  assert.equal(third.at(-1).role, 'user', 'the comment is the last message');
  assertValidRequests(c);
  assert.equal(charges(s).length, 1, 'the revision did not look the charge up again');
  assert.equal(refundPosts(s).length, 0, 'nothing refunded after the rejection');

  // the new gate
  const g2 = await gate(second);
  assert.equal(g2.status, 'pending');
  assert.equal(g2.title, 'Refund 300');
  assert.deepEqual(g2.proposal, { charge: 'ch_1', amount: 300 });
  assert.equal(g2.reasoning, REVISED);
  const g1 = await gate(first);
  assert.equal(g1.status, 'rejected');
  assert.deepEqual(g1.proposal, { charge: 'ch_1', amount: 612 }, 'the first proposal stays on its gate');
  assert.equal(g1.decisions.length, 1);
  assert.equal(g1.decisions[0].decision, 'reject');
  assert.equal(g1.decisions[0].comment, COMMENT);

  // every proposal stays in the run's steps
  assert.deepEqual(again.steps.map((x) => `${x.id}:${x.status}`),
    ['draft:completed', 'issue_refund:rejected', 'draft:completed', 'issue_refund:waiting']);
  const drafts = stepsOf(again, 'draft');
  assert.deepEqual(drafts.map((x) => x.output.arguments), [{ charge: 'ch_1', amount: 612 }, { charge: 'ch_1', amount: 300 }]);
  assert.deepEqual(drafts.map((x) => x.output.reasoning), [REASONING, REVISED]);
  assert.deepEqual(drafts.map((x) => x.visit), [1, 2]);
  assert.ok(drafts[1].output.transcript.some((m) => m.role === 'user' && text(m).includes(COMMENT)),
    'the revision\'s transcript holds the comment');

  await decide(second, { decision: 'approve' });
  const done = await waitRun(srv, run.id);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  const posts = refundPosts(s);
  assert.equal(posts.length, 1, `one refund request: ${JSON.stringify(posts.map((p) => p.body))}`);
  assert.deepEqual(posts[0].body, { charge: 'ch_1', amount: 300 });
  assert.equal(posts[0].idempotencyKey, `${run.id}/issue_refund/2`, 'the second visit of the step');
  assert.deepEqual([...s.applied()].map(([, n]) => n), [1]);
  assert.equal(s.refunds.length, 1);
  assert.equal(c.requests.length, 3);

  // the audit trail: both gates, the rejection with its comment, the approval
  const rows = await srv.audit({ run_id: run.id });
  const opened = rows.filter((x) => x.type === 'gate.opened');
  assert.deepEqual(opened.map((x) => x.approval_id), [first, second]);
  const decisions = rows.filter((x) => x.type === 'decision');
  assert.equal(decisions.length, 2, JSON.stringify(decisions));
  assert.equal(decisions[0].approval_id, first);
  assert.ok(JSON.stringify(decisions[0].data).includes(COMMENT), `the rejection's comment: ${JSON.stringify(decisions[0].data)}`);
  assert.match(JSON.stringify(decisions[0].data), /reject/);
  assert.equal(decisions[1].approval_id, second);
  assert.match(JSON.stringify(decisions[1].data), /approve/);
  assert.equal(decisions[0].actor, 'alice');
  const draftDone = rows.filter((x) => x.type === 'step.completed' && x.data?.step === 'draft');
  assert.deepEqual(draftDone.map((x) => x.data.visit), [1, 2], 'both visits of the agent step are in the trail');
});

test('after max_revisions revisions a rejection fails the run, with no further model call', T, async () => {
  const c = await chat([PROPOSE(612, REASONING), PROPOSE(500, 'Then 500.'), PROPOSE(400, 'never asked')]);
  const s = await sink();
  const run = await settle('agent-once', input(c, s));
  const first = assertAtGate(run);
  await decide(first, { decision: 'reject', comment: 'no, less' });
  const mid = await waitRun(srv, run.id, { pred: (x) => x.status !== 'running' && x.waiting?.approval_id !== first });
  const second = assertAtGate(mid);
  assert.equal((await gate(second)).proposal.amount, 500);
  await decide(second, { decision: 'reject', comment: 'still no' });
  const done = await waitRun(srv, run.id);
  assert.equal(done.status, 'failed', `max_revisions: 1 allows one revision: ${JSON.stringify(done)}`);
  assert.equal(c.requests.length, 2, 'no third proposal was asked for');
  assert.equal(c.remaining(), 1);
  assert.equal(stepOf(done, 'issue_refund').status, 'rejected');
  assert.equal(refundPosts(s).length, 0);
  const rows = await srv.audit({ run_id: run.id });
  assert.equal(rows.filter((x) => x.type === 'decision').length, 2);
  assert.ok(rows.some((x) => x.type === 'decision' && JSON.stringify(x.data).includes('still no')));
});

// A person's no is final: the revision after a rejection is not carried out
// unseen, even under the auto-approve limit.
test('a revision after a rejection waits for a person whatever `when` says: the rejected $612 revised to $306 (under the limit of 500) shows what was rejected, and is paid once after approval', T, async () => {
  const COMMENT = 'too much, offer half';
  const c = await chat([PROPOSE(612, REASONING), PROPOSE(306, 'Half, as asked.')]);
  const s = await sink();
  assert.ok(LIMIT.includes('when: .steps.draft.output.arguments.amount > 500'), LIMIT);
  const run = await settle('agent-limit', input(c, s));
  const first = assertAtGate(run);
  const g1 = await gate(first);
  assert.equal(g1.revision, undefined, 'the first proposal is no revision');
  assert.deepEqual(g1.assignees, ['team:finance']);
  await decide(first, { decision: 'reject', comment: COMMENT });

  const again = await waitRun(srv, run.id, { pred: (x) => x.status !== 'running' && x.waiting?.approval_id !== first });
  const second = assertAtGate(again);
  assert.notEqual(second, first);
  assert.equal(c.requests.length, 2, 'the agent proposed again');
  assert.equal(stepOf(again, 'issue_refund').status, 'waiting', 'the revised refund waits at its gate');
  assert.equal(refundPosts(s).length, 0, 'nothing paid before a person approved');

  const g2 = await gate(second);
  assert.equal(g2.status, 'pending');
  assert.equal(g2.auto, false);
  assert.deepEqual(g2.proposal, { charge: 'ch_1', amount: 306 });
  assert.deepEqual(g2.assignees, g1.assignees, 'routed as the rejected gate was');
  assert.equal(g2.revision.number, 1);
  assert.equal(g2.revision.rejected.approval_id, first);
  assert.deepEqual(g2.revision.rejected.proposal, { charge: 'ch_1', amount: 612 });
  assert.equal(g2.revision.rejected.by, 'alice');
  assert.equal(g2.revision.rejected.comment, COMMENT);
  assert.equal(g2.revision.rejected.at, (await gate(first)).decisions[0].at);
  const inbox = await srv.api('GET', '/v1/approvals', { token: keys.alice });
  assert.ok(inbox.json.items.some((x) => x.id === second), `in alice's inbox: ${describeResponse(inbox)}`);

  const shown = await cli(['approvals', 'show', second], { url: srv.url, token: keys.alice });
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, new RegExp(`revision 1, after a rejection of ${first} by alice`));
  assert.ok(shown.stdout.includes(`"${COMMENT}"`), shown.stdout);
  assert.match(shown.stdout, /rejected proposal\n[^]*"amount": 612/);

  const rows = await srv.audit({ run_id: run.id });
  const opened = rows.filter((x) => x.type === 'gate.opened');
  assert.deepEqual(opened.map((x) => x.approval_id), [first, second]);
  assert.equal(opened[0].data.auto_approve_skipped, undefined);
  assert.equal(opened[1].data.auto_approve_skipped, 'revision after a rejection');
  assert.equal(opened[1].data.revision, 1);
  assert.equal(opened[1].data.rejected_approval_id, first);
  assert.ok(!rows.some((x) => x.type === 'gate.auto_approved'), 'no gate of this run was auto-approved');

  await decide(second, { decision: 'approve' });
  const done = await waitRun(srv, run.id);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  const posts = refundPosts(s);
  assert.equal(posts.length, 1, `paid once: ${JSON.stringify(posts.map((p) => p.body))}`);
  assert.deepEqual(posts[0].body, { charge: 'ch_1', amount: 306 });
  assert.equal(s.refunds.length, 1);
});

test('an ordinary proposal under the limit is still auto-approved', T, async () => {
  const c = await chat([PROPOSE(306, 'Half.')]);
  const s = await sink();
  const run = await settle('agent-limit', input(c, s));
  const done = run.status === 'completed' ? run : await waitRun(srv, run.id);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.equal(stepOf(done, 'issue_refund').approval.auto, true);
  assert.equal(refundPosts(s).length, 1);
});

// ---- (c) the api_key from $secrets ------------------------------------------

test('the api_key from $secrets reaches the model as the bearer and nowhere else; a text answer ends the step with no tool', T, async () => {
  const ANSWER = 'The charge was never disputed: no refund is due.';
  const c = await chat([LOOKUP, { content: ANSWER }]);
  const s = await sink();
  const run = await settle('agent-alone', input(c, s));
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.equal(c.log.length, 2);
  assertValidRequests(c);
  for (const l of c.log) {
    assert.equal(l.headers.authorization, `Bearer ${LLM_KEY}`);
    assert.equal(l.status, 200);
  }
  assert.ok(charges(s).every((r) => !JSON.stringify(r.headers).includes(LLM_KEY)), 'the tool call does not carry the key');

  const draft = stepOf(run, 'draft');
  assert.equal(draft.status, 'completed');
  assert.equal(draft.output.tool, null);
  assert.equal(draft.output.arguments, null);
  assert.equal(draft.output.reasoning, ANSWER);
  assert.ok(Array.isArray(draft.output.transcript));
  assert.deepEqual(run.output, draft.output, "the run's output is the agent's");

  const r = await srv.api('GET', `/v1/runs/${run.id}`);
  assert.equal(r.status, 200);
  assert.ok(!r.text.includes(LLM_KEY), 'the run does not contain the key');
  const list = await srv.api('GET', '/v1/runs?limit=1000');
  assert.ok(!list.text.includes(LLM_KEY), 'the run list does not contain the key');
  for (const format of ['jsonl', 'csv']) {
    const a = await srv.api('GET', `/v1/audit?format=${format}`);
    assert.equal(a.status, 200, describeResponse(a));
    assert.ok(a.text.includes(run.id), `the ${format} export has the run`);
    assert.ok(!a.text.includes(LLM_KEY), `the audit export (${format}) does not contain the key`);
  }
  assert.ok(!srv.tail(1e9).includes(LLM_KEY), "the server's stderr does not contain the key");
});

// ---- answers over OUTBOUND_BODY_MAX (1 MiB) ---------------------------------

const MIB = 1024 * 1024;

test('a model answer over 1 MiB fails the step saying so, without a retry; a tool answer over 1 MiB reaches the model marked as cut', T, async () => {
  const big = await chat([{ content: 'x'.repeat(MIB) }]);
  const s1 = await sink();
  const failed = await settle('agent-alone', input(big, s1));
  assert.equal(failed.status, 'failed', JSON.stringify(failed).slice(0, 2000));
  const draft = stepOf(failed, 'draft');
  assert.equal(draft.status, 'failed');
  assert.match(JSON.stringify(draft.error), /the model's answer is over 1048576 bytes \(OUTBOUND_BODY_MAX: \d+ received\) and was not read/,
    JSON.stringify(draft.error));
  assert.equal(big.requests.length, 1, 'the same answer would come again: no retry');

  const tail = 'z'.repeat(10);
  const s2 = await sink({ script: { '/v1/charges/ch_1': [{ status: 200, body: 'y'.repeat(MIB) + tail }] } });
  const c = await chat([LOOKUP, { content: 'Nothing to refund.' }]);
  const run = await settle('agent-alone', input(c, s2));
  assert.equal(run.status, 'completed', JSON.stringify(run).slice(0, 2000));
  assert.equal(c.requests.length, 2);
  const tool = c.requests[1].messages.find((m) => m.role === 'tool');
  assert.ok(tool, 'the tool answer went back to the model');
  // 1 MiB less the longest secret (HTTP_CUT_BODY_KEEP): no secret stands cut in half at the end
  const KEEP = MIB - 64 * 1024;
  assert.ok(tool.content.startsWith('y'.repeat(KEEP) + '\n[cut:'), 'the first 960 KiB of the answer, then the note');
  assert.ok(!tool.content.includes(tail), 'nothing past the limit');
  assert.ok(tool.content.endsWith(`\n[cut: the answer had ${MIB + tail.length} bytes; only the first ${KEEP} are shown]`),
    tool.content.slice(-200));
});

// ---- (d) max_turns -----------------------------------------------------------

test('a model that keeps calling the safe tool fails the step after max_turns model calls', T, async () => {
  const c = await chat(Array.from({ length: 8 }, () => LOOKUP), { apiKey: undefined });
  const s = await sink();
  const run = await settle('agent-turns', input(c, s));
  assert.equal(run.status, 'failed', JSON.stringify(run));
  assert.equal(c.requests.length, 3, 'max_turns: 3 model calls at most');
  assertValidRequests(c);
  assert.ok(charges(s).length >= 2 && charges(s).length <= 3, `${charges(s).length} lookups`);
  assert.ok(c.log.every((l) => l.headers.authorization === undefined), 'no api_key, no Authorization');
  const draft = stepOf(run, 'draft');
  assert.equal(draft.status, 'failed');
  assert.match(JSON.stringify(draft.error), /max_turns/, `the step's error names max_turns: ${JSON.stringify(draft.error)}`);
  assert.match(JSON.stringify(run.error), /max_turns/, `the run's error names max_turns: ${JSON.stringify(run.error)}`);
  assert.ok(!run.steps.some((x) => x.id === 'after'));
});

// ---- transient model failures -------------------------------------------------

test('a model call answered 503 is retried with back-off and the conversation so far: the tool is not run again, the retry sends the same messages', T, async () => {
  const c = await chat([LOOKUP, { status: 503, body: { error: { message: 'overloaded', type: 'server_error' } } }, PROPOSE(612, REASONING)]);
  const s = await sink();
  const run = await settle('agent-refund', input(c, s));
  const settled = run.status === 'waiting' && run.waiting?.type === 'retry'
    ? await waitRun(srv, run.id, { pred: (x) => x.status === 'waiting' && x.waiting?.type === 'approval' })
    : run;
  assertAtGate(settled);
  assert.equal(c.requests.length, 3, 'lookup, the failed call, its retry');
  assertValidRequests(c);
  assert.deepEqual(c.requests[2].messages, c.requests[1].messages, 'the retry sends the conversation as it was');
  assert.equal(charges(s).length, 1, 'the read-only tool ran once');
  const draft = stepOf(settled, 'draft');
  assert.equal(draft.output.tool, 'issue_refund');
  assert.equal(draft.attempts, 2, JSON.stringify(draft));
  const rows = (await srv.audit({ run_id: run.id })).filter((r) => r.type === 'step.attempt_failed');
  assert.equal(rows.length, 1);
  assert.match(rows[0].data.error, /HTTP 503/);
  const g = await srv.api('POST', `/v1/runs/${run.id}/cancel`);
  assert.equal(g.status, 200, describeResponse(g));
});

// ---- response_schema ---------------------------------------------------------

test('response_schema: the schema goes to the model as response_format; a matching JSON answer is the output\'s response, ready for the next step', T, async () => {
  const c = await chat([{ content: '{"category": "billing", "priority": 2}' }], { apiKey: undefined });
  const s = await sink();
  const run = await settle('agent-triage', input(c, s));
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.equal(c.requests.length, 1);
  assert.deepEqual(c.requests[0].response_format,
    { type: 'json_schema', json_schema: { name: 'response', schema: TRIAGE_SCHEMA } });
  const out = stepOf(run, 'triage').output;
  assert.deepEqual(out.response, { category: 'billing', priority: 2 });
  assert.equal(out.tool, null);
  assert.equal(out.arguments, null);
  assert.equal(out.reasoning, null);
  assert.deepEqual(run.output, { queue: 'billing' });
});

test('response_schema: an answer that does not match goes back to the model once with the problems; the corrected answer is taken', T, async () => {
  const c = await chat([{ content: '{"category": "refund", "priority": "high"}' }, { content: '{"category": "other", "priority": 3}' }], { apiKey: undefined });
  const s = await sink();
  const run = await settle('agent-triage', input(c, s));
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.equal(c.requests.length, 2);
  assertValidRequests(c);
  const retry = c.requests[1].messages.at(-1);
  assert.equal(retry.role, 'user');
  assert.match(retry.content, /does not match the response schema/);
  assert.match(retry.content, /response\.category: must be one of/, retry.content);
  assert.match(retry.content, /response\.priority: expected integer, got string/, retry.content);
  assert.deepEqual(stepOf(run, 'triage').output.response, { category: 'other', priority: 3 });
});

test('response_schema: a second answer that does not match (here: not JSON) fails the step with the reason; no third call', T, async () => {
  const c = await chat([{ content: 'billing, I think' }, { content: '{"category": "bug"}' }, { content: '{"category": "bug", "priority": 1}' }], { apiKey: undefined });
  const s = await sink();
  const run = await settle('agent-triage', input(c, s));
  assert.equal(run.status, 'failed', JSON.stringify(run));
  assert.equal(c.requests.length, 2, 'retried once only');
  assert.match(c.requests[1].messages.at(-1).content, /not JSON/);
  const step = stepOf(run, 'triage');
  assert.equal(step.status, 'failed');
  assert.match(JSON.stringify(step.error), /does not match response_schema.*response\.priority: is required/, JSON.stringify(step.error));
});

test('response_schema is checked when the workflow is applied: an unsupported keyword is refused with its path', T, async () => {
  const bad = TRIAGE.replace('name: agent-triage', 'name: agent-bad-schema').replace('"additionalProperties":false', '"patternProperties":{}');
  const r = await srv.api('POST', '/v1/workflows', { body: bad, contentType: 'application/yaml' });
  assert.equal(r.status, 422, describeResponse(r));
  assert.match(r.text, /steps\[0\]\.agent\.response_schema\.patternProperties/, r.text);
});

// ---- several tool calls in one answer ----------------------------------------

test('two read-only tool calls in one answer (parallel tool calls): both run, each answered with its tool_call_id', T, async () => {
  const c = await chat([
    { tool_calls: [{ name: 'lookup_charge', arguments: { charge: 'ch_1' } }, { name: 'lookup_charge', arguments: { charge: 'ch_2' } }] },
    PROPOSE(612, REASONING),
  ]);
  const s = await sink();
  const run = await settle('agent-refund', input(c, s));
  assertAtGate(run);
  assert.deepEqual(charges(s).map((r) => r.path).sort(), ['/v1/charges/ch_1', '/v1/charges/ch_2'], 'both lookups ran');
  assert.equal(c.requests.length, 2);
  assertValidRequests(c);
  const tools = c.requests[1].messages.filter((m) => m.role === 'tool');
  assert.deepEqual(tools.map((m) => m.tool_call_id), ['call_1', 'call_2'], 'answered in the order of the calls');
  assert.deepEqual(tools.map((m) => JSON.parse(m.content).id), ['ch_1', 'ch_2'], 'each call gets its own answer');
  assert.deepEqual(stepOf(run, 'draft').output.arguments, { charge: 'ch_1', amount: 612 });
  const g = await srv.api('POST', `/v1/runs/${run.id}/cancel`);
  assert.equal(g.status, 200, describeResponse(g));
});
