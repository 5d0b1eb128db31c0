// The spojit command line (SPEC §9) against a live server.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { startHub, startSink } from './lib/doubles.mjs';
import { EXAMPLES, cli, describeResponse, useServer } from './lib/server.mjs';
import { refundInput, waitRun } from './lib/world.mjs';

const T = { timeout: 180_000 };
// The API a workflow calls is one path segment below $env.DOUBLES: a URL's
// host comes from configuration, never from a run.
const hub = await startHub();
after(() => hub.close());
const srv = useServer({ args: hub.args, env: hub.env });
const keys = {};

before(async () => {
  keys.alice = await srv.userWithKey('alice', { teams: ['finance'] });
  keys.requester = await srv.userWithKey('requester');
}, T);

const as = (who) => ({ url: srv.url, token: who === 'admin' ? srv.token : keys[who] });
const out = (r) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

test('spojit --help exits 0 and lists every command of SPEC §9', T, async () => {
  const r = await cli(['--help']);
  assert.equal(r.code, 0, out(r));
  const text = r.stdout + r.stderr;
  for (const c of ['serve', 'workflow apply', 'workflow ls', 'run start', 'run show', 'run ls', 'approvals ls',
    'approve', 'reject', 'audit verify', 'audit export', 'admin user add', 'admin team add', 'admin key create']) {
    assert.ok(text.includes(c), `spojit --help mentions "${c}":\n${text}`);
  }
  for (const v of ['SPOJIT_URL', 'SPOJIT_TOKEN']) assert.ok(text.includes(v), `spojit --help mentions ${v}`);
  const h = await cli(['-h']);
  assert.equal(h.code, 0, out(h));
  const ver = await cli(['--version']);
  assert.equal(ver.code, 0, out(ver));
  assert.match(ver.stdout, /^spojit \d+\.\d+\.\d+/);
});

test('each client command has --help (exit 0) naming its SPEC flags', T, async () => {
  const flags = {
    'run start': ['--input', '--wait'],
    'run show': [],
    'run ls': [],
    'approvals ls': ['--all'],
    approve: ['--comment', '--edit'],
    reject: ['--comment'],
    'audit verify': ['--db'],
    'audit export': ['--format'],
    'workflow apply': [],
    'admin user add': [],
    'admin team add': [],
    'admin key create': [],
  };
  for (const [cmd, fl] of Object.entries(flags)) {
    const r = await cli([...cmd.split(' '), '--help']);
    assert.equal(r.code, 0, `${cmd} --help: ${out(r)}`);
    const text = r.stdout + r.stderr;
    assert.ok(text.includes(cmd), `${cmd} --help names the command: ${text}`);
    for (const f of fl) assert.ok(text.includes(f), `${cmd} --help mentions ${f}: ${text}`);
  }
});

test('spojit serve --help exits 0 and lists every serve flag with its environment twin', T, async () => {
  const r = await cli(['serve', '--help']);
  assert.equal(r.code, 0, out(r));
  const text = r.stdout + r.stderr;
  for (const [flag, env] of [['--listen', 'SPOJIT_LISTEN'], ['--db', 'SPOJIT_DB'], ['--demo', 'SPOJIT_DEMO'],
    ['--test-clock', 'SPOJIT_TEST_CLOCK'], ['--threads', 'SPOJIT_THREADS'], ['--max-body', 'SPOJIT_MAX_BODY'],
    ['--env-allow', 'SPOJIT_ENV_ALLOW'], ['--log-level', 'SPOJIT_LOG_LEVEL'],
    ['--tls-cert', 'SPOJIT_TLS_CERT'], ['--tls-key', 'SPOJIT_TLS_KEY'],
    ['--master-key-file', 'SPOJIT_MASTER_KEY_FILE']]) {
    assert.ok(text.includes(flag), `serve --help mentions ${flag}`);
    assert.ok(text.includes(env), `serve --help mentions ${env}`);
  }
  assert.ok(text.includes('SPOJIT_BOOTSTRAP_TOKEN'), 'serve --help mentions SPOJIT_BOOTSTRAP_TOKEN');
  assert.ok(text.includes('SPOJIT_MASTER_KEY '), 'serve --help mentions SPOJIT_MASTER_KEY');
  const bad = await cli(['serve', '--no-such-flag']);
  assert.equal(bad.code, 2, `serve with an unknown flag is a usage error: ${out(bad)}`);
});

test('workflow apply, run start --wait, approvals ls, approve --edit and run show work against a live server', T, async () => {
  const file = path.join(EXAMPLES, 'refund.yaml');
  const ap = await cli(['workflow', 'apply', file], as('admin'));
  assert.equal(ap.code, 0, out(ap));
  assert.match(ap.stdout, /refund/);
  const m = /version\s+(\d+)/.exec(ap.stdout);
  assert.ok(m, `apply prints the version: ${ap.stdout}`);
  const again = await cli(['workflow', 'apply', file], as('admin'));
  assert.equal(again.code, 0, out(again));
  assert.ok(again.stdout.includes(`version ${m[1]}`), `re-applying identical content gives the same version: ${again.stdout}`);
  const ls = await cli(['workflow', 'ls'], as('admin'));
  assert.equal(ls.code, 0, out(ls));
  assert.match(ls.stdout, /refund/);

  const st = await cli(['run', 'start', 'refund', '--input', JSON.stringify(refundInput(612)), '--wait', '--json'], as('requester'));
  assert.equal(st.code, 0, out(st));
  const run = JSON.parse(st.stdout);
  assert.equal(run.status, 'waiting', `run start --wait returns the waiting run: ${st.stdout}`);
  const apr = run.waiting.approval_id;

  const human = await cli(['run', 'start', 'refund', '--input', JSON.stringify(refundInput(30)), '--wait'], as('requester'));
  assert.equal(human.code, 0, out(human));
  assert.match(human.stdout, /completed/, `a human-form run start --wait shows the status: ${human.stdout}`);

  const inbox = await cli(['approvals', 'ls'], as('alice'));
  assert.equal(inbox.code, 0, out(inbox));
  assert.ok(inbox.stdout.includes(apr), `alice's approvals ls lists ${apr}: ${inbox.stdout}`);
  const other = await cli(['approvals', 'ls'], as('requester'));
  assert.equal(other.code, 0, out(other));
  assert.ok(!other.stdout.includes(apr), 'the requester is not an assignee');

  const appr = await cli(['approve', apr, '--edit', '/amount=550', '--comment', 'capped'], as('alice'));
  assert.equal(appr.code, 0, out(appr));
  assert.match(appr.stdout, /approved/);
  const done = await waitRun(srv, run.id);
  assert.equal(done.status, 'completed');
  assert.equal(done.output.refunded, 550, 'the CLI edit reached the action');

  const show = await cli(['run', 'show', run.id], as('requester'));
  assert.equal(show.code, 0, out(show));
  assert.ok(show.stdout.includes(run.id), show.stdout);
  assert.match(show.stdout, /completed/);
  for (const step of ['draft', 'issue_refund', 'done']) assert.ok(show.stdout.includes(step), `run show lists step ${step}`);
  const showJson = await cli(['run', 'show', run.id, '--json'], as('requester'));
  assert.equal(showJson.code, 0, out(showJson));
  assert.equal(JSON.parse(showJson.stdout).output.refunded, 550);

  const all = await cli(['approvals', 'ls', '--all'], as('alice'));
  assert.equal(all.code, 0, out(all));
  assert.ok(all.stdout.includes(apr), `approvals ls --all still lists the decided ${apr}`);

  const runs = await cli(['run', 'ls'], as('admin'));
  assert.equal(runs.code, 0, out(runs));
  assert.ok(runs.stdout.includes(run.id));
});

test('reject --comment sends the run down its on_reject path; reject without --comment is a usage error', T, async () => {
  await srv.applyWorkflow(fs.readFileSync(path.join(EXAMPLES, 'refund.yaml'), 'utf8'));
  const st = await cli(['run', 'start', 'refund', '--input', JSON.stringify(refundInput(777)), '--wait', '--json'], as('requester'));
  assert.equal(st.code, 0, out(st));
  const run = JSON.parse(st.stdout);
  const apr = run.waiting.approval_id;

  const noComment = await cli(['reject', apr], as('alice'));
  assert.equal(noComment.code, 2, `reject without --comment: ${out(noComment)}`);
  assert.equal((await srv.api('GET', `/v1/approvals/${apr}`)).json.status, 'pending', 'nothing was sent');

  const rej = await cli(['reject', apr, '--comment', 'not eligible'], as('alice'));
  assert.equal(rej.code, 0, out(rej));
  assert.match(rej.stdout, /rejected/);
  const done = await waitRun(srv, run.id);
  assert.equal(done.status, 'completed');
  assert.match(done.output.message, /could not refund/);
  const g = (await srv.api('GET', `/v1/approvals/${apr}`)).json;
  assert.equal(g.decisions[0].comment, 'not eligible');
  assert.equal(g.decisions[0].by, 'alice');

  const again = await cli(['approve', apr], as('alice'));
  assert.equal(again.code, 1, `deciding a resolved gate fails with exit 1: ${out(again)}`);
  assert.match(again.stderr, /^spojit: /m, 'errors print "spojit: MESSAGE"');
});

test('usage errors exit 2 and failed requests exit 1', T, async () => {
  for (const args of [
    ['no-such-command'],
    ['run', 'start'],
    ['run', 'start', 'refund', '--input'],
    ['run', 'start', 'refund', '--input', '{not json'],
    ['approve'],
    ['approve', 'apr_x', '--edit', '/amount=1', '--edit', '/amount=2'],
    ['run', 'ls', '--limit', 'many'],
    ['run', 'ls', '--status', 'sleeping'],
    ['audit', 'export', '--format', 'xml'],
    ['approvals', 'ls', '--no-such-flag'],
  ]) {
    const r = await cli(args, as('admin'));
    assert.equal(r.code, 2, `spojit ${args.join(' ')}: ${out(r)}`);
    assert.ok(r.stderr.length > 0, `spojit ${args.join(' ')} explains itself on stderr`);
  }
  const notFound = await cli(['run', 'show', 'run_doesnotexist'], as('admin'));
  assert.equal(notFound.code, 1, `an unknown run: ${out(notFound)}`);
  assert.match(notFound.stderr, /^spojit: /m);
  const badToken = await cli(['run', 'ls'], { url: srv.url, token: 'spk_wrong' });
  assert.equal(badToken.code, 1, `a wrong token: ${out(badToken)}`);
  const forbidden = await cli(['admin', 'user', 'add', 'zed'], as('alice'));
  assert.equal(forbidden.code, 1, `a member adding a user: ${out(forbidden)}`);
  const down = await cli(['run', 'ls'], { url: 'http://127.0.0.1:9', token: 'x' });
  assert.equal(down.code, 1, `an unreachable server: ${out(down)}`);
  assert.ok(down.stderr.includes('127.0.0.1:9'), `the message names the URL: ${down.stderr}`);
  const invalid = path.join(srv.dir, 'bad.yaml');
  fs.writeFileSync(invalid, 'name: bad\nsteps:\n  - id: a\n    next: nowhere\n    transform: "."\n');
  const ap = await cli(['workflow', 'apply', invalid], as('admin'));
  assert.equal(ap.code, 1, out(ap));
  assert.match(ap.stdout + ap.stderr, /bad\.yaml:4:\d+: .*nowhere/, 'problems printed like a compiler');
});

test('admin user add, team add and key create make a key that works', T, async () => {
  const u = await cli(['admin', 'user', 'add', 'gina', '--team', 'finance'], as('admin'));
  assert.equal(u.code, 0, out(u));
  const t = await cli(['admin', 'team', 'add', 'auditors', '--member', 'gina'], as('admin'));
  assert.equal(t.code, 0, out(t));
  const k = await cli(['admin', 'key', 'create', 'gina'], as('admin'));
  assert.equal(k.code, 0, out(k));
  const key = k.stdout.trim();
  assert.match(key, /^\S+$/, `the key alone on stdout: ${k.stdout}`);
  const r = await srv.api('GET', '/v1/approvals', { token: key });
  assert.equal(r.status, 200, describeResponse(r));
});

test('admin user set, user rm, key ls and key revoke change people and keys at once', T, async () => {
  assert.equal((await cli(['admin', 'user', 'add', 'hugo', '--team', 'finance'], as('admin'))).code, 0);
  const k = await cli(['admin', 'key', 'create', 'hugo', '--name', 'laptop'], as('admin'));
  assert.equal(k.code, 0, out(k));
  const key = k.stdout.trim();
  assert.equal((await srv.api('GET', '/v1/runs', { token: key })).status, 200);

  const off = await cli(['admin', 'user', 'set', 'hugo', '--disable', '--team', 'ops'], as('admin'));
  assert.equal(off.code, 0, out(off));
  assert.match(off.stdout, /disabled, teams ops/);
  assert.equal((await srv.api('GET', '/v1/runs', { token: key })).status, 401, 'disabled at once');
  assert.equal((await cli(['admin', 'user', 'set', 'hugo', '--enable'], as('admin'))).code, 0);
  assert.equal((await srv.api('GET', '/v1/runs', { token: key })).status, 200, 'enabled again');

  const ls = await cli(['admin', 'key', 'ls', '--user', 'hugo', '--json'], as('admin'));
  assert.equal(ls.code, 0, out(ls));
  const keys = JSON.parse(ls.stdout).items;
  assert.equal(keys.length, 1);
  assert.equal(keys[0].name, 'laptop');
  assert.ok(!ls.stdout.includes(key), 'the key itself is never listed');
  const rv = await cli(['admin', 'key', 'revoke', keys[0].id], as('admin'));
  assert.equal(rv.code, 0, out(rv));
  assert.equal((await srv.api('GET', '/v1/runs', { token: key })).status, 401, 'revoked at once');
  assert.equal((await cli(['admin', 'key', 'revoke', keys[0].id], as('admin'))).code, 1, 'twice is an error');

  const users = await cli(['admin', 'user', 'ls'], as('admin'));
  assert.match(users.stdout, /hugo/);
  const rm = await cli(['admin', 'user', 'rm', 'hugo'], as('admin'));
  assert.equal(rm.code, 0, out(rm));
  assert.doesNotMatch((await cli(['admin', 'user', 'ls'], as('admin'))).stdout, /hugo/);
  assert.equal((await cli(['admin', 'user', 'set', 'hugo', '--enable'], as('admin'))).code, 1);
});

test('admin secret set reads the value from standard input or --file, never argv; ls names it, rm removes it; link-keys rotate; user set --password', T, async () => {
  const VALUE = `sk-cli-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const set = await cli(['admin', 'secret', 'set', 'cli_stripe'], { ...as('admin'), input: `${VALUE}\n` });
  assert.equal(set.code, 0, out(set));
  assert.match(set.stdout, /secret cli_stripe written/);
  assert.ok(!set.stdout.includes(VALUE) && !set.stderr.includes(VALUE), 'the value is not echoed');
  const file = path.join(srv.dir, 'secret.txt');
  fs.writeFileSync(file, `${VALUE}-file`);
  const fromFile = await cli(['admin', 'secret', 'set', 'cli_file', '--file', file], as('admin'));
  assert.equal(fromFile.code, 0, out(fromFile));
  const empty = await cli(['admin', 'secret', 'set', 'cli_empty'], { ...as('admin'), input: '' });
  assert.equal(empty.code, 1, out(empty));
  assert.match(empty.stderr, /is empty/);
  const missing = await cli(['admin', 'secret', 'set', 'cli_x', '--file', path.join(srv.dir, 'nope')], as('admin'));
  assert.equal(missing.code, 1, out(missing));
  assert.equal((await cli(['admin', 'secret', 'set'], as('admin'))).code, 2, 'NAME is required');
  const member = await cli(['admin', 'secret', 'set', 'cli_m'], { ...as('alice'), input: 'x' });
  assert.equal(member.code, 1, 'a member key is refused');

  const ls = await cli(['admin', 'secret', 'ls', '--json'], as('admin'));
  assert.equal(ls.code, 0, out(ls));
  const names = JSON.parse(ls.stdout).items.map((i) => i.name);
  assert.ok(names.includes('cli_stripe') && names.includes('cli_file'), names.join());
  assert.ok(!ls.stdout.includes(VALUE));
  // the value arrived whole, less the newline: the sink accepts exactly it
  await srv.applyWorkflow(`
name: cli-secret-check
steps:
  - id: pay
    http:
      method: POST
      url: "{{ $env.DOUBLES }}/{{ .input.sink }}/v1/refunds"
      auth: {bearer: "{{ $secrets.cli_stripe }}"}
      json: {charge: ch_cli, amount: 1}
`);
  const sink = await startSink({ apiKey: VALUE, hub });
  try {
    const run = await srv.api('POST', '/v1/runs?wait=30', { body: { workflow: 'cli-secret-check', input: { sink: sink.id } } });
    assert.equal(run.status, 201, describeResponse(run));
    const done = run.json.status === 'completed' ? run.json : await waitRun(srv, run.json.id);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.deepEqual(sink.requests.map((x) => x.outcome), ['applied']);
  } finally {
    await sink.close();
  }
  assert.equal((await cli(['admin', 'secret', 'rm', 'cli_file'], as('admin'))).code, 0);
  assert.ok(!JSON.parse((await cli(['admin', 'secret', 'ls', '--json'], as('admin'))).stdout).items.some((i) => i.name === 'cli_file'));
  assert.equal((await cli(['admin', 'secret', 'rm', 'cli_file'], as('admin'))).code, 1, 'twice is an error');

  const rot = await cli(['admin', 'link-keys', 'rotate'], as('admin'));
  assert.equal(rot.code, 0, out(rot));
  assert.match(rot.stdout, /link signing key \S+ is now current/);

  assert.equal((await cli(['admin', 'user', 'add', 'ivo', '--password', 'first pass'], as('admin'))).code, 0);
  const pw = await cli(['admin', 'user', 'set', 'ivo', '--password', '-'], { ...as('admin'), input: 'second pass\n' });
  assert.equal(pw.code, 0, out(pw));
  const login = (password) => srv.api('POST', '/v1/session', { token: null, body: { name: 'ivo', password } });
  assert.equal((await login('first pass')).status, 401);
  assert.equal((await login('second pass')).status, 200);
});

test('approvals reassign replaces who decides; only an admin may, and --to is required', T, async () => {
  await srv.applyWorkflow(fs.readFileSync(path.join(EXAMPLES, 'refund.yaml'), 'utf8'));
  keys.ivan = await srv.userWithKey('ivan');
  const st = await cli(['run', 'start', 'refund', '--input', JSON.stringify(refundInput(640)), '--wait', '--json'], as('requester'));
  assert.equal(st.code, 0, out(st));
  const apr = JSON.parse(st.stdout).waiting.approval_id;

  const noTo = await cli(['approvals', 'reassign', apr], as('admin'));
  assert.equal(noTo.code, 2, `reassign without --to: ${out(noTo)}`);
  assert.match(noTo.stderr, /--to/);
  const member = await cli(['approvals', 'reassign', apr, '--to', 'user:ivan'], as('alice'));
  assert.equal(member.code, 1, `a member reassigning: ${out(member)}`);
  assert.deepEqual((await srv.api('GET', `/v1/approvals/${apr}`)).json.assignees, ['team:finance'], 'nothing changed');

  const r = await cli(['approvals', 'reassign', apr, '--to', 'user:ivan', '--to', 'user:alice'], as('admin'));
  assert.equal(r.code, 0, out(r));
  assert.equal(r.stdout, `${apr} reassigned to user:ivan, user:alice\n`);
  assert.deepEqual((await srv.api('GET', `/v1/approvals/${apr}`)).json.assignees, ['user:ivan', 'user:alice']);
  const inbox = await cli(['approvals', 'ls'], as('ivan'));
  assert.equal(inbox.code, 0, out(inbox));
  assert.ok(inbox.stdout.includes(apr), `ivan's inbox lists ${apr}: ${inbox.stdout}`);

  const bad = await cli(['approvals', 'reassign', apr, '--to', 'nobody'], as('admin'));
  assert.equal(bad.code, 1, `a malformed assignee is refused by the server: ${out(bad)}`);
  assert.match(bad.stderr, /^spojit: .*user:NAME/m);
});

test('approvals link prints the path, or the full URL with --public-url or SPOJIT_PUBLIC_URL; the link opens its page', T, async () => {
  await srv.applyWorkflow(fs.readFileSync(path.join(EXAMPLES, 'refund.yaml'), 'utf8'));
  const st = await cli(['run', 'start', 'refund', '--input', JSON.stringify(refundInput(650)), '--wait', '--json'], as('requester'));
  assert.equal(st.code, 0, out(st));
  const apr = JSON.parse(st.stdout).waiting.approval_id;
  const args = ['approvals', 'link', apr, '--user', 'alice', '--decision', 'approve'];

  const bare = await cli(args, { ...as('admin'), env: { SPOJIT_PUBLIC_URL: '' } });
  assert.equal(bare.code, 0, out(bare));
  assert.match(bare.stdout, /^\/l\/[^\s/]+\n$/, `the path alone: ${bare.stdout}`);
  assert.match(bare.stderr, /alice/);

  const flag = await cli([...args, '--public-url', `${srv.url}/`], as('admin'));
  assert.equal(flag.code, 0, out(flag));
  assert.match(flag.stdout, new RegExp(`^${srv.url}/l/[^\\s/]+\\n$`), `the full URL, one slash: ${flag.stdout}`);

  const env = await cli(args, { ...as('admin'), env: { SPOJIT_PUBLIC_URL: 'https://spojit.example.com' } });
  assert.equal(env.code, 0, out(env));
  assert.match(env.stdout, /^https:\/\/spojit\.example\.com\/l\/[^\s/]+\n$/, env.stdout);
  const over = await cli([...args, '--public-url', srv.url], { ...as('admin'), env: { SPOJIT_PUBLIC_URL: 'https://spojit.example.com' } });
  assert.equal(over.code, 0, out(over));
  assert.ok(over.stdout.startsWith(`${srv.url}/l/`), `--public-url wins over the environment: ${over.stdout}`);

  const page = await fetch(over.stdout.trim());
  assert.equal(page.status, 200, 'the printed URL opens the confirmation page');
  assert.match(await page.text(), /<form/);
  assert.equal((await srv.api('GET', `/v1/approvals/${apr}`)).json.status, 'pending', 'opening it decides nothing');

  for (const bad of [[...args.slice(0, 5), '--decision', 'maybe'], args.slice(0, 5), [...args, '--public-url', 'spojit.example.com']]) {
    const r = await cli(bad, as('admin'));
    assert.equal(r.code, 2, `spojit ${bad.join(' ')}: ${out(r)}`);
  }
  const notAssignee = await cli(['approvals', 'link', apr, '--user', 'requester', '--decision', 'approve'], as('admin'));
  assert.equal(notAssignee.code, 1, `a link for someone who may not decide: ${out(notAssignee)}`);
});

test('admin team ls lists every team with its members, empty ones too; for admins only', T, async () => {
  await srv.must('POST', '/v1/teams', { body: { name: 'empty-team' } }, 201);
  const r = await cli(['admin', 'team', 'ls'], as('admin'));
  assert.equal(r.code, 0, out(r));
  assert.match(r.stdout, /^TEAM\s+MEMBERS/);
  assert.match(r.stdout, /\nfinance\s+[^\n]*alice/);
  assert.match(r.stdout, /\nempty-team\b/);
  const j = await cli(['admin', 'team', 'ls', '--json'], as('admin'));
  assert.equal(j.code, 0, out(j));
  const items = JSON.parse(j.stdout).items;
  assert.deepEqual(items.find((t) => t.name === 'empty-team'), { name: 'empty-team', members: [] });
  assert.ok(items.find((t) => t.name === 'finance').members.includes('alice'));
  assert.deepEqual(items.map((t) => t.name), items.map((t) => t.name).sort(), 'sorted by name');
  const member = await cli(['admin', 'team', 'ls'], as('alice'));
  assert.equal(member.code, 1, `a member listing teams: ${out(member)}`);
});

test('a partial command\'s --help lists its commands; an unknown word suggests the nearest one, exit 2', T, async () => {
  const h = await cli(['admin', 'user', '--help']);
  assert.equal(h.code, 0, out(h));
  for (const c of ['admin user add', 'admin user ls', 'admin user set', 'admin user rm']) {
    assert.ok(h.stdout.includes(c), `admin user --help lists ${c}: ${h.stdout}`);
  }
  assert.ok(!h.stdout.includes('admin key create'), 'only the admin user commands');
  const bare = await cli(['admin', 'user']);
  assert.equal(bare.code, 2, out(bare));
  assert.match(bare.stderr, /admin user: which command\?/);

  for (const [args, want] of [
    [['aprovals', 'ls'], "unknown command 'aprovals'; did you mean 'approvals'?"],
    [['approvals', 'lss'], "unknown approvals command 'lss'; did you mean 'ls'?"],
    [['admin', 'tema', 'ls'], "unknown admin command 'tema'; did you mean 'team'?"],
    [['serv'], "did you mean 'serve'?"],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 2, `spojit ${args.join(' ')}: ${out(r)}`);
    assert.ok(r.stderr.includes(want), `spojit ${args.join(' ')} says "${want}": ${r.stderr}`);
  }
  const far = await cli(['xyzzy']);
  assert.equal(far.code, 2, out(far));
  assert.ok(!far.stderr.includes('did you mean'), `nothing is near xyzzy: ${far.stderr}`);
});

test('serve --help promises only what exists; a bad expression is reported as the author wrote it', T, async () => {
  const h = await cli(['serve', '--help']);
  assert.equal(h.code, 0, out(h));
  assert.ok(!/inbox/i.test(h.stdout), `no web inbox is promised: ${h.stdout}`);
  const file = path.join(srv.dir, 'badjq.yaml');
  fs.writeFileSync(file, 'name: badjq\nsteps:\n  - id: a\n    transform: ".amount +* 2"\n');
  const ap = await cli(['workflow', 'apply', file], as('admin'));
  assert.equal(ap.code, 1, out(ap));
  const text = ap.stdout + ap.stderr;
  assert.ok(text.includes("in `.amount +* 2`: syntax error, unexpected '*' at column 10"), text);
  assert.ok(!text.includes('$__') && !text.includes('<top-level>'), `no trace of the wrapper: ${text}`);
});
