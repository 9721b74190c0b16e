// Smoke test of one prebuilt binary on its own platform (CI's test-bindings jobs): the .node that
// `napi build --platform` wrote next to binding.js is loaded through the package entry, a built-in
// provider is fetched from the loopback provider sandbox, and the CLI prints the same numbers.
// Needs no npm install (the package has no runtime dependencies) and no Rust.
//
//   node .github/scripts/smoke.mjs
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSandbox } from '../../__test__/sandbox.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const require = createRequire(import.meta.url)
const pkg = require(join(root, 'index.js'))
const binary = Object.keys(require.cache).find((k) => k.endsWith('.node'))
console.log(`loaded ${binary} on ${process.platform}-${process.arch}, node ${process.version}`)

const sb = await startSandbox()
const dir = mkdtempSync(join(tmpdir(), 'usage-smoke-'))
try {
  const tracker = new pkg.UsageTracker({ intervalMs: 60_000, cachePath: null })
  tracker.registerBuiltinProvider('anthropic', { baseUrl: sb.url, credentials: { accessToken: sb.tokens.anthropic } })
  await tracker.refresh()
  assert.equal(tracker.getWindow('anthropic', '5h')?.usedRatio, 0.37)
  assert.equal(tracker.checkQuota('anthropic').decision, 'proceed')
  await tracker.stop()
  console.log('tracker: anthropic 5h 37% from the sandbox')

  // the CLI as a child process, with credentials from a pi agent dir
  writeFileSync(join(dir, 'auth.json'), JSON.stringify(sb.authJson()))
  const env = { ...process.env, PI_CODING_AGENT_DIR: dir, HOME: dir, USERPROFILE: dir, PI_USAGE_TRACKER_BASE_URL: sb.url, NO_COLOR: '1' }
  const out = await new Promise((resolve, reject) =>
    execFile(process.execPath, [join(root, 'bin', 'usage-store.js'), '--no-cache', '--json'], { env, timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`usage-store failed: ${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  )
  const j = JSON.parse(out)
  const codex = j.entries.find((e) => e.key === 'openai-codex/default')
  assert.deepEqual(codex.windows.map((w) => [w.id, w.usedPercent]), [['5h', 23], ['7d', 41]])
  const premium = j.entries.find((e) => e.key === 'github-copilot/default').windows.find((w) => w.id === 'premium')
  assert.deepEqual([premium.remaining, premium.total], [173, 300])
  console.log('cli: codex 5h 23% · 7d 41%, copilot 173/300')
  console.log('smoke test passed')
} finally {
  await sb.close()
  rmSync(dir, { recursive: true, force: true })
}
