// URL templates (docs/workflows, "URL templates"): a value from a run is
// one piece of text in its place in the URL, never more, and where the
// request goes (scheme, host, port) comes only from the workflow's text,
// $env and $secrets. The refund-agent example's lookup URL with a charge
// that climbs out of /v1/charges/ reaches exactly /v1/charges/<encoded>,
// bearer and all; a host taken from run data is refused when the workflow
// is applied.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';

import { startSink } from './lib/doubles.mjs';
import { describeResponse, useServer } from './lib/server.mjs';
import { waitRun } from './lib/world.mjs';

const T = { timeout: 120_000 };
const SECRET = `sk_test_${crypto.randomBytes(18).toString('base64url')}`;
// The payments API is configuration, as in examples/refund-agent.yaml.
const api = await startSink({ apiKey: SECRET });
after(() => api.close());
const srv = useServer({ args: ['--env-allow', 'PAYMENTS_URL'], env: { PAYMENTS_URL: api.url } });

// The example's tool url, as an http step the run's input feeds.
const LOOKUP = `
name: url-lookup
steps:
  - id: look
    http:
      url: "{{ $env.PAYMENTS_URL }}/v1/charges/{{ .input.charge }}"
      query: {expand: "{{ .input.expand }}"}
      auth: {bearer: "{{ $secrets.payments_key }}"}
      accept: [200, 404]
`;

// Run data right after the configured host: the path is its own.
const AFTER_HOST = `
name: url-after-host
steps:
  - id: look
    http:
      url: "{{ $env.PAYMENTS_URL }}/{{ .input.rest }}"
      auth: {bearer: "{{ $secrets.payments_key }}"}
      accept: [200, 404]
`;

before(async () => {
  const put = await srv.api('PUT', '/v1/secrets/payments_key', { body: { value: SECRET } });
  assert.equal(put.status, 201, `PUT /v1/secrets/payments_key (new): ${describeResponse(put)}`);
  for (const wf of [LOOKUP, AFTER_HOST]) await srv.applyWorkflow(wf);
}, T);

async function settle(workflow, input) {
  const r = await srv.api('POST', '/v1/runs?wait=30', { body: { workflow, input } });
  assert.equal(r.status, 201, `POST /v1/runs ${workflow}: ${describeResponse(r)}`);
  if (r.json.status !== 'running') return r.json;
  return waitRun(srv, r.json.id, { pred: (x) => x.status !== 'running' });
}

const requestsSince = (n) => api.requests.slice(n);

test('a charge "ch_1/../../../../../v1/workflows?" is one path segment: the API sees exactly /v1/charges/<encoded>, nothing else', T, async () => {
  const charge = 'ch_1/../../../../../v1/workflows?';
  const seen = api.requests.length;
  const run = await settle('url-lookup', { charge, expand: 'a&b=c#d' });
  assert.equal(run.status, 'completed', JSON.stringify(run));
  const got = requestsSince(seen);
  assert.equal(got.length, 1, `one request: ${JSON.stringify(got.map((r) => r.target))}`);
  assert.equal(got[0].target, '/v1/charges/ch_1%2F..%2F..%2F..%2F..%2F..%2Fv1%2Fworkflows%3F?expand=a%26b%3Dc%23d');
  assert.equal(got[0].path, '/v1/charges/ch_1%2F..%2F..%2F..%2F..%2F..%2Fv1%2Fworkflows%3F');
  assert.deepEqual(got[0].query, { expand: 'a&b=c#d' });
  assert.equal(got[0].outcome, 'read');
  assert.equal(run.steps[0].output.status, 200, 'the charge was found (accept lets a 404 through too)');
  // the API read the whole value as the charge id
  assert.equal(run.steps[0].output.body.id, charge);
  assert.equal(run.steps[0].request.url,
    `${api.url}/v1/charges/ch_1%2F..%2F..%2F..%2F..%2F..%2Fv1%2Fworkflows%3F?expand=a%26b%3Dc%23d`);
});

test('a charge of ".." (or "." or "") would name another resource: the step fails saying so, and nothing is sent', T, async () => {
  for (const charge of ['..', '.', '']) {
    const seen = api.requests.length;
    const run = await settle('url-lookup', { charge, expand: 'x' });
    assert.equal(run.status, 'failed', JSON.stringify(run));
    assert.match(JSON.stringify(run.steps[0].error ?? run.error), /http url: .*path segment empty, '\.' or '\.\.'/);
    assert.equal(requestsSince(seen).length, 0, `nothing sent for ${JSON.stringify(charge)}`);
  }
});

test('"@evil.example/x" after the configured host stays in the path: the request reaches the API, not evil.example', T, async () => {
  const seen = api.requests.length;
  const run = await settle('url-after-host', { rest: '@evil.example/x' });
  assert.equal(run.status, 'completed', JSON.stringify(run));
  const got = requestsSince(seen);
  assert.equal(got.length, 1);
  assert.equal(got[0].target, '/%40evil.example%2Fx');
  assert.equal(got[0].outcome, 'not_found', 'the API has nothing there');
  assert.equal(run.steps[0].output.status, 404, 'and the step holds its 404, accepted by accept: [200, 404]');
  assert.equal(got[0].headers.authorization, `Bearer ${SECRET}`);
});

test('run data before the end of the host is refused when the workflow is applied, at the url with its line', T, async () => {
  const bad = [
    'name: url-host-from-input',           // 1
    'steps:',
    '  - id: look',
    '    http:',
    '      url: "{{ $env.PAYMENTS_URL }}{{ .input.rest }}"',    // 5
    '      auth: {bearer: "{{ $secrets.payments_key }}"}',
    '  - id: other',
    '    http:',
    '      url: "http://127.0.0.1:{{ .input.port }}/v1/charges"', // 9
    '',
  ].join('\n');
  const r = await srv.api('POST', '/v1/workflows', { body: bad, contentType: 'application/yaml' });
  assert.equal(r.status, 422, describeResponse(r));
  const details = r.json.error.details;
  const at = (path) => details.find((d) => d.path === path);
  assert.ok(at('steps[0].http.url'), JSON.stringify(details));
  assert.equal(at('steps[0].http.url').line, 5);
  assert.match(at('steps[0].http.url').message, /\{\{ \.input\.rest \}\} stands before the end of the URL's host/);
  assert.equal(at('steps[1].http.url').line, 9);
  assert.match(at('steps[1].http.url').message, /\.input\.port/);
  const listed = await srv.api('GET', '/v1/workflows/url-host-from-input');
  assert.equal(listed.status, 404, 'nothing was applied');
});
