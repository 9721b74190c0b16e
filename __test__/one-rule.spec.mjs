// Rules computed once in Rust and carried to JS: the threshold verdict, pi's credential mapping,
// the provider table. Each case here disagreed between two copies of a rule before they became one.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { startSandbox } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { UsageTracker, BUILTIN_PROVIDERS, credentialsFromPiAuth } = require('../index.js')
const format = require('../lib/format.js')

function trackerAt(usedRatio, events) {
  const tracker = new UsageTracker({ warnAt: 0.25, criticalAt: 0.1, cachePath: null })
  tracker.registerProvider({
    id: 'edge',
    quotas: [{ id: '5h', percentageOnly: true, duration: 18000 }],
    fetchUsage: () => [{ id: '5h', usedRatio, resetsAt: Date.now() + 3_600_000 }],
  })
  tracker.onThreshold((e) => events.push(e))
  return tracker
}

test('a window exactly at the critical threshold has one verdict: footer level, checkQuota and onThreshold', async () => {
  const events = []
  const tracker = trackerAt(0.9, events)
  await tracker.refresh()
  const w = tracker.getWindow('edge', '5h')
  assert.equal(w.level, 'warn', 'exactly 10 % left is not below 10 %')
  assert.equal(tracker.snapshot.windows.get('edge').get('default').get('5h').level, 'warn')
  assert.equal(tracker.checkQuota('edge').decision, 'proceed')
  assert.deepEqual(events, [])
  const [part] = format.footerParts(tracker.entries())
  assert.equal(part.segments[0].level, 'warn', 'the footer paints what the tracker decided')
  await tracker.stop()

  const below = []
  const t2 = trackerAt(0.95, below)
  await t2.refresh()
  assert.equal(t2.getWindow('edge', '5h').level, 'critical')
  assert.equal(t2.checkQuota('edge').decision, 'low')
  assert.equal(format.footerParts(t2.entries())[0].segments[0].level, 'critical')
  assert.equal(below.length, 1)
  assert.deepEqual([below[0].kind, below[0].providerId, below[0].modelId, below[0].windowId], ['low', 'edge', 'default', '5h'])
  await t2.stop()
})

test('an api_key entry for a provider whose usage endpoint needs a login sends nothing and shows why', async () => {
  const sb = await startSandbox()
  const dir = mkdtempSync(join(tmpdir(), 'one-rule-'))
  try {
    const secret = 'sk-ant-api03-SECRET-never-sent'
    writeFileSync(join(dir, 'auth.json'), JSON.stringify({ anthropic: { type: 'api_key', key: secret } }), { mode: 0o600 })
    const env = { PATH: process.env.PATH, HOME: dir, PI_CODING_AGENT_DIR: dir }
    const out = await new Promise((resolve, reject) =>
      execFile(process.execPath, [join(root, 'bin/usage-store.js'), '--json', '--no-cache', '--provider', 'anthropic', '--base-url', sb.url], { env, timeout: 30_000 }, (err, stdout, stderr) =>
        stdout ? resolve({ stdout, stderr }) : reject(err ?? new Error(stderr)),
      ),
    )
    assert.equal(sb.count('anthropic', 'all'), 0, 'no request reached the usage endpoint')
    assert.ok(!out.stdout.includes(secret) && !out.stderr.includes(secret), 'the key is never printed')
    const entry = JSON.parse(out.stdout).entries.find((e) => e.providerId === 'anthropic')
    assert.equal(entry.active, false)
    assert.match(entry.error.message, /API key cannot read/)
    assert.match(entry.error.message, /\/login/)
    const mapped = credentialsFromPiAuth('anthropic', { type: 'api_key', key: secret })
    assert.deepEqual([mapped.usable, mapped.reason], [false, entry.error.message], 'the same mapping serves the extension')
  } finally {
    await sb.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('an enterprise Copilot login has one host, decided in the addon for the CLI and the extension alike', () => {
  const entry = { type: 'oauth', access: 'tid=x', refresh: 'ghu_x', expires: Date.now() + 3_600_000, enterpriseUrl: 'company.ghe.com' }
  assert.deepEqual(credentialsFromPiAuth('github-copilot', entry), { usable: true, kind: 'oauth', baseUrl: 'https://api.company.ghe.com' })
  // Neither front end maps auth.json entries itself any more: both register the provider and
  // let the addon read auth.json through the mapping above.
  for (const file of ['extensions/usage-tracker/index.ts', 'bin/usage-store.js']) {
    const src = readFileSync(join(root, file), 'utf8')
    assert.doesNotMatch(src, /enterpriseUrl|authStorage\.get|\.refresh\b.*accessToken/, `${file} maps credentials itself`)
  }
})

test('the provider table is the one list of ids and labels', () => {
  assert.ok(BUILTIN_PROVIDERS.length >= 5)
  assert.equal(new Set(BUILTIN_PROVIDERS.map((p) => p.id)).size, BUILTIN_PROVIDERS.length)
  for (const p of BUILTIN_PROVIDERS) assert.equal(format.providerLabel(p.id), p.label)
  assert.equal(format.providerLabel(`${BUILTIN_PROVIDERS[0].id}-work`), `${BUILTIN_PROVIDERS[0].label}-work`)
  for (const file of ['extensions/usage-tracker/index.ts', 'bin/usage-store.js', 'lib/format.js', 'scripts/demo.mjs', 'index.js', 'index.d.ts']) {
    const src = readFileSync(join(root, file), 'utf8')
    const spelled = BUILTIN_PROVIDERS.filter((p) => src.includes(`'${p.id}'`) || src.includes(`"${p.id}"`))
    assert.ok(spelled.length < 2, `${file} spells out built-in ids: ${spelled.map((p) => p.id).join(', ')}`)
  }
})
