// A broken pi auth.json, as the usage-store CLI (a child process) meets it: the message names
// the file and where it is broken, never sends the user to log in, and the file is left
// byte-identical. The good part of a file with one wrong-typed entry is still used (sandbox).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSandbox } from './sandbox.mjs'

const CLI = fileURLToPath(new URL('../bin/usage-store.js', import.meta.url))

let sb
let root

before(async () => {
  sb = await startSandbox()
  root = mkdtempSync(path.join(tmpdir(), 'usage-auth-file-'))
})

after(async () => {
  await sb?.close()
  if (root) rmSync(root, { recursive: true, force: true })
})

let n = 0
/** Runs the CLI with an agent dir whose auth.json holds `bytes`; returns its output and the file's bytes after. */
async function runWith(bytes, args = []) {
  const agent = path.join(root, `agent-${n++}`)
  const home = path.join(root, `home-${n}`)
  const file = path.join(agent, 'auth.json')
  for (const d of [agent, home]) mkdirSync(d, { recursive: true })
  writeFileSync(file, bytes, { mode: 0o600 })
  const mtime = statSync(file).mtimeMs
  const env = { PATH: process.env.PATH, HOME: home, PI_CODING_AGENT_DIR: agent, NO_COLOR: '1', PI_USAGE_TRACKER_BASE_URL: sb.url }
  const r = await new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--no-cache', ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
  assert.deepEqual(readFileSync(file), Buffer.from(bytes), 'auth.json is byte-identical afterwards')
  assert.equal(statSync(file).mtimeMs, mtime, 'auth.json was not rewritten')
  return { ...r, file }
}

const NEVER = [/log ?in/i, /no credentials/i]

const forms = [
  ['truncated JSON', '{\n  "anthropic": {"type": "oauth", "access": "sk-ant-secret', /at line 2, column 57: EOF while parsing a string \(the file ends too early/],
  ['an array', '[1,2,3]', /at line 1, column 1: an array where pi keeps an object with one entry per provider/],
  ['binary garbage', Buffer.from([0x7b, 0x0a, 0x20, 0xff, 0xfe, 0x00, 0x9c, 0x01]), /at line 2, column 2: not text \(binary data where JSON belongs\)/],
]

for (const [name, bytes, where] of forms) {
  test(`auth.json with ${name}: the table names the file and where, and exits 2`, async () => {
    const r = await runWith(bytes)
    assert.equal(r.code, 2, r.stderr)
    assert.equal(r.stdout, '')
    const line = r.stderr.trim()
    assert.equal(line.split('\n').length, 1, `said once:\n${r.stderr}`)
    assert.ok(line.startsWith("usage-store: pi's auth.json is broken "), line)
    assert.match(line, where)
    assert.ok(line.includes(`(${r.file})`), `names the file: ${line}`)
    for (const never of NEVER) assert.doesNotMatch(line, never)
    assert.doesNotMatch(line, /secret/)
    assert.equal(sb.requests.length, 0, 'nothing was sent')
  })
}

test('auth.json with an array: the view says the file is broken, not that nobody has credentials', async () => {
  const r = await runWith('[1,2,3]', ['view'])
  assert.equal(r.code, 2)
  assert.match(r.stdout, /^no usage data: pi's auth\.json cannot be read$/m)
  assert.match(r.stdout, /^! pi's auth\.json is broken at line 1, column 1: an array/m)
  for (const never of NEVER) assert.doesNotMatch(r.stdout, never)
})

test('auth.json with a broken file: a named provider and a guard say the file is broken', async () => {
  const named = await runWith('{"zai": ', ['--provider', 'zai'])
  assert.match(named.stderr, /pi's auth\.json is broken at line 1, column 8: EOF while parsing a value/)
  for (const never of NEVER) assert.doesNotMatch(named.stderr, never)
  const guard = await runWith('{"zai": ', ['--guard', 'zai', '--min-remaining', '10'])
  assert.equal(guard.code, 2)
  assert.match(guard.stdout, /^zai\/default: pi's auth\.json is broken at line 1, column 8/)
  for (const never of NEVER) assert.doesNotMatch(guard.stdout, never)
})

test('a wrong-typed entry and a bare string entry are named by entry and field; the good entries still work', async () => {
  const auth = {
    ...sb.authJson(),
    anthropic: { type: 'oauth', access: 12345, refresh: 'r', expires: Date.now() + 3600_000 },
    zai: 'sk-bare-secret-key',
  }
  const r = await runWith(JSON.stringify(auth, null, 2))
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stderr.trim().split('\n')
  const of = (id) => lines.find((l) => l.startsWith(`${id}: `)) ?? ''
  assert.match(of('anthropic'), /^anthropic: pi's auth\.json is broken at entry "anthropic": "access" is a number, expected a string \(/)
  assert.match(of('zai'), /^zai: pi's auth\.json is broken at entry "zai": a string where pi keeps an object like/)
  for (const id of ['anthropic', 'zai']) {
    assert.ok(of(id).includes(r.file), `names the file: ${of(id)}`)
    for (const never of [...NEVER, /set an API key/, /secret/]) assert.doesNotMatch(of(id), never)
  }
  // the other logins of the same file are read and fetched
  assert.match(r.stdout, /openai-codex\s+5h\s+23%/)
  assert.match(r.stdout, /github-copilot\s+premium/)
  assert.equal(sb.count('anthropic'), 0, 'a broken entry is not sent anywhere')
})

test('a wrong-typed entry in the view is that provider\'s error, naming the entry and the field', async () => {
  const auth = { ...sb.authJson(), anthropic: { type: 'oauth', access: 12345, refresh: 'r', expires: Date.now() + 3600_000 } }
  const r = await runWith(JSON.stringify(auth), ['view', '--provider', 'anthropic', '--provider', 'github-copilot'])
  const text = r.stdout.replace(/\s+/g, ' ')
  assert.match(text, /pi's auth\.json is broken at entry "anthropic": "access" is a number, expected a string/)
  assert.match(r.stdout, /173\/300/, 'the other login of the file is shown')
  assert.doesNotMatch(r.stdout, /log ?in|no credentials/i)
})

test('credentialsFromPiAuth names a wrong-typed entry instead of finding nothing', async () => {
  const { credentialsFromPiAuth } = await import('../index.js').then((m) => m.default ?? m)
  const info = credentialsFromPiAuth('anthropic', { type: 'oauth', access: 12345, refresh: 'r', expires: 1 })
  assert.deepEqual({ ...info }, { usable: false, reason: 'anthropic: the auth.json entry is broken: "access" is a number, expected a string' })
  assert.equal(credentialsFromPiAuth('zai', 'sk-bare').reason, 'zai: the auth.json entry is broken: a string where pi keeps an object like {"type": "api_key", "key": …}')
})
