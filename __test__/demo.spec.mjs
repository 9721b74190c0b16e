// `npm run demo` (scripts/demo.mjs) as a user runs it: the built addon against the loopback
// sandbox, every built-in provider, two cycles, then a clean exit. A demo that crashes, hangs,
// drops a provider or fails a fetch fails this test. And on a checkout without a native binary,
// the way a fresh clone is after `npm ci`: the demo must run its build step before anything
// loads the addon. That demo runs from a copy of the package's JS files whose `npm run build`
// is replaced (a real release build takes minutes): one that records it ran and fails, one that
// puts this checkout's binary in place.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const { BUILTIN_PROVIDERS, UsageTracker } = require('../index.js')
const fmt = require('../lib/format.js')
const { visibleWidth } = require('../lib/terminal.js')
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
  // the footer as pi would draw it at 80 columns: the most urgent provider first, fitted
  const footer = frames[1].split('\n').find((l) => l.startsWith('footer: '))
  assert.ok(footer && visibleWidth(footer) <= 80, footer)
  assert.match(footer, /^footer: antigravity /)
  // the header-only built-ins are never polled: they show what the demo's model responses said
  const n = BUILTIN_PROVIDERS.filter((p) => p.polled).length
  assert.match(r.stdout, new RegExp(`^stopped after 2 cycles: ${2 * n} fetches ok, 0 failed$`, 'm'))
})

const root = fileURLToPath(new URL('..', import.meta.url))
const binary = readdirSync(root).find((f) => /^usage-tracker\..+\.node$/.test(f))

/** A checkout with the package's JS and no `.node`; `build` is what `npm run build` runs there. */
function checkoutWithout(build) {
  const dir = mkdtempSync(join(tmpdir(), 'pi-usage-demo-test-'))
  for (const f of ['index.js', 'binding.js']) cpSync(join(root, f), join(dir, f))
  for (const d of ['lib', 'scripts']) cpSync(join(root, d), join(dir, d), { recursive: true })
  // the sandbox and its fixtures are read in place
  symlinkSync(join(root, '__test__'), join(dir, '__test__'))
  symlinkSync(join(root, 'crates'), join(dir, 'crates'))
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  pkg.scripts = { build }
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg))
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.node')), 'the copy starts without a binary')
  return dir
}

function runDemo(dir, args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(dir, 'scripts', 'demo.mjs'), ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('exit', (code) => resolve({ code, out }))
  })
}

test('demo on a checkout without a binary: runs the build step first, and a failed build says what to do', async () => {
  // The "build" leaves a mark and fails: had the demo loaded the addon first, it would have died
  // on the missing binary without ever reaching the build.
  const dir = checkoutWithout(`node -e "require('fs').writeFileSync('build-ran', 'yes'); process.exit(3)"`)
  try {
    const { code, out } = await runDemo(dir, ['--cycles', '1'])
    assert.equal(readFileSync(join(dir, 'build-ran'), 'utf8'), 'yes', `the build step did not run:\n${out}`)
    assert.equal(code, 1, out)
    assert.match(out, /step 1\/2, building it: `npm run build`/)
    assert.match(out, /the build failed after \d+s .*install Rust 1\.88\+, then run `npm run build`/)
    assert.doesNotMatch(out, /no native binary|Cannot find native binding/, 'the addon was loaded before the build')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('demo on a checkout without a binary: once the build step has put one in place, the demo runs to its end', async () => {
  assert.ok(binary, 'this checkout has a built addon (npm run build:debug)')
  const dir = checkoutWithout(`node -e "require('fs').copyFileSync('${join(root, binary)}', '${binary}')"`)
  try {
    const { code, out } = await runDemo(dir, ['--cycles', '2'])
    assert.ok(existsSync(join(dir, binary)), out)
    assert.equal(code, 0, out)
    const built = out.indexOf('demo: built in ')
    assert.ok(built > out.indexOf('step 1/2'), out)
    // after the build, the demo drew its cycles from the sandbox and stopped by itself
    assert.ok(out.indexOf('cycle 2/2') > built, out)
    assert.match(out, /stopped after \d+ cycles: \d+ fetches ok/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
