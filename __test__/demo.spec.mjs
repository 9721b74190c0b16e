// `npm run demo` (scripts/demo.mjs) as a user runs it: the built addon against the loopback
// sandbox, every built-in provider, two cycles, then a clean exit. A demo that crashes, hangs,
// drops a provider or fails a fetch fails this test.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const { BUILTIN_PROVIDERS, UsageTracker } = require('../index.js')
const fmt = require('../lib/format.js')
const DEMO = fileURLToPath(new URL('../scripts/demo.mjs', import.meta.url))

test('the demo runs two cycles of every built-in against the sandbox and exits 0', { timeout: 60_000 }, async () => {
  const interval = String(UsageTracker.limits.minIntervalMs)
  const r = await new Promise((resolve) => {
    // piped stdout: the demo prints plain frames, one per cycle
    execFile(process.execPath, [DEMO, '--cycles', '2', '--interval', interval], { env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' }, timeout: 50_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, signal: err?.signal ?? null, stdout, stderr }))
  })
  assert.deepEqual([r.code, r.signal], [0, null], `demo failed:\n${r.stdout}\n${r.stderr}`)
  assert.equal(r.stderr, '')
  const frames = r.stdout.split(/^(?=pi-usage-tracker demo · )/m).filter((f) => f.startsWith('pi-usage-tracker demo'))
  assert.equal(frames.length, 2, r.stdout)
  assert.match(frames[1], /· cycle 2\/2 ·/)
  for (const { id } of BUILTIN_PROVIDERS) {
    const line = frames[1].split('\n').find((l) => l.startsWith(`${fmt.providerLabel(id).padEnd(12)}`))
    assert.ok(line, `${id}: no line in the last frame:\n${frames[1]}`)
    assert.doesNotMatch(line, /no credentials|waiting…|! /, `${id} shows values: ${line}`)
  }
  assert.match(frames[1], /^footer: claude /m)
  const n = BUILTIN_PROVIDERS.length
  assert.match(r.stdout, new RegExp(`^stopped after 2 cycles: ${2 * n} fetches ok, 0 failed$`, 'm'))
})
