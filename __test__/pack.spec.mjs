// Packaging end to end, as a user gets it: `npm pack` the package and its linux-x64-gnu platform
// package (the built .node copied into a temp copy of npm/linux-x64-gnu), install both tarballs
// into a fresh temp project (npm --offline with an empty cache: no registry, no Rust, nothing
// from this checkout's node_modules), require the addon there, run the installed `usage-store`
// CLI against the provider sandbox, and `pi install npm:pi-usage-tracker` in a real pi whose npm
// (settings.json "npmCommand") serves those tarballs, asserting the footer appears.
// Skipped when this is not linux-x64-gnu; when the release .node has not been built (npm run
// build), and for the pi case also when tmux or pi cannot be had (like pi-e2e), skipped off CI
// and failed on CI (helpers/ci.mjs).
import { test as plainTest, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { piEnv } from './helpers/pi-env.mjs'
import { startSandbox } from './sandbox.mjs'
import { ensurePi, ensureTmux, PiSession } from './helpers/pi-tmux.mjs'
import { testNeeding } from './helpers/ci.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const PLATFORM = 'linux-x64-gnu'
const NODE_FILE = join(ROOT, `usage-tracker.${PLATFORM}.node`)
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
const PLATFORM_PKG = `${PKG.name}-${PLATFORM}`

const isLinuxX64Gnu = process.platform === 'linux' && process.arch === 'x64' && Boolean(process.report?.getReport?.().header?.glibcVersionRuntime)
const offPlatform = isLinuxX64Gnu ? false : `this test packs the ${PLATFORM} package; this machine is ${process.platform}-${process.arch}`
const notBuilt = offPlatform || existsSync(NODE_FILE) ? false : `${relative(ROOT, NODE_FILE)} has not been built (run \`npm run build\`)`
const skip = offPlatform || notBuilt
if (skip) console.log(`# pack skipped: ${skip}`)

/** A test of the packed package: skipped on another platform; without the build (or with
 *  `missing` naming another thing it needs) skipped off CI, failed on CI. */
const test = (name, options, fn, missing = false) =>
  offPlatform ? plainTest(name, { ...options, skip: offPlatform }, fn) : testNeeding(name, notBuilt || missing, options, fn)

let tmp
let sb
let mainTgz
let platformTgz
let mainFiles
let platformFiles
let project
let home
let agentDir

/** Run a command asynchronously (the sandbox lives in this process's event loop). */
function run(cmd, args, { cwd, env, timeout = 60_000 } = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

/** This process's environment without what `npm test` adds (npm_*, NODE_PATH), with a private npm cache. */
function cleanEnv(extra = {}) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'NODE_PATH' || k === 'INIT_CWD' || k === 'NODE_OPTIONS') continue
    env[k] = v
  }
  return { ...env, npm_config_cache: join(tmp, 'npm-cache'), npm_config_update_notifier: 'false', ...extra }
}

async function npmPack(dir) {
  const r = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', join(tmp, 'tarballs')], { cwd: dir, env: cleanEnv() })
  assert.equal(r.code, 0, `npm pack in ${dir}: ${r.stderr}`)
  const [info] = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))
  return { tgz: join(tmp, 'tarballs', info.filename), files: info.files.map((f) => f.path).sort() }
}

before(async () => {
  if (skip) return
  tmp = mkdtempSync(join(tmpdir(), 'pi-usage-pack-'))
  mkdirSync(join(tmp, 'tarballs'))

  // the platform package as CI assembles it (napi artifacts): npm/<platform>/ plus its .node
  const platformDir = join(tmp, PLATFORM)
  cpSync(join(ROOT, 'npm', PLATFORM), platformDir, { recursive: true })
  cpSync(NODE_FILE, join(platformDir, `usage-tracker.${PLATFORM}.node`))
  ;[{ tgz: mainTgz, files: mainFiles }, { tgz: platformTgz, files: platformFiles }] = await Promise.all([npmPack(ROOT), npmPack(platformDir)])

  sb = await startSandbox()
  home = join(tmp, 'home')
  agentDir = join(tmp, 'agent')
  project = join(tmp, 'project')
  for (const d of [home, agentDir, project]) mkdirSync(d)
  writeFileSync(join(agentDir, 'auth.json'), JSON.stringify(sb.authJson(), null, 2), { mode: 0o600 })
  writeFileSync(join(agentDir, 'usage-tracker.json'), JSON.stringify({ intervalMs: 60_000, cachePath: null }))
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'pack-check', version: '1.0.0', private: true }))
})

after(async () => {
  await sb?.close()
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

test('the main tarball holds only the loader, types, lib, extension, CLI and README', {}, () => {
  console.log(`# ${PKG.name} tarball: ${mainFiles.join(' ')}`)
  const top = new Set(['package.json', 'README.md', 'index.js', 'index.d.ts', 'binding.js', 'binding.d.ts', 'lib', 'extensions', 'bin'])
  for (const f of mainFiles) assert.ok(top.has(f.split('/')[0]), `unexpected file in the tarball: ${f}`)
  for (const f of ['package.json', 'README.md', 'index.js', 'index.d.ts', 'binding.js', 'binding.d.ts', 'lib/format.js', 'extensions/usage-tracker/index.ts', 'bin/usage-store.js']) {
    assert.ok(mainFiles.includes(f), `${f} is missing from the tarball`)
  }
  assert.ok(!mainFiles.some((f) => /\.(node|rs|tgz)$|^__test__|fixtures|Cargo/.test(f)), 'no binaries, tests, fixtures or Rust sources')
})

test(`the ${PLATFORM} tarball holds the .node and its manifest`, {}, () => {
  assert.deepEqual(platformFiles, ['README.md', 'package.json', `usage-tracker.${PLATFORM}.node`])
  const mb = statSync(NODE_FILE).size / 2 ** 20
  console.log(`# ${PLATFORM_PKG}: usage-tracker.${PLATFORM}.node ${mb.toFixed(2)} MiB`)
})

test('both tarballs install offline into a fresh project', { timeout: 60_000 }, async () => {
  const t0 = Date.now()
  // --offline with an empty cache: the other platforms' optional packages cannot be fetched and are
  // skipped, as npm does for a foreign os/cpu; nothing is built (no install scripts exist to run).
  const r = await run('npm', ['install', '--offline', '--no-audit', '--no-fund', mainTgz, platformTgz], { cwd: project, env: cleanEnv() })
  assert.equal(r.code, 0, r.stderr)
  console.log(`# npm install of the two tarballs: ${Date.now() - t0} ms`)
  const nm = join(project, 'node_modules')
  assert.deepEqual(readdirSync(nm).filter((d) => d.startsWith(PKG.name)).sort(), [PKG.name, PLATFORM_PKG])
  assert.ok(existsSync(join(nm, '.bin', 'usage-store')), 'the CLI is linked')
  assert.ok(!readdirSync(join(nm, PKG.name)).some((f) => f.endsWith('.node')), 'the main package ships no binary')
  assert.ok(!existsSync(join(nm, PKG.name, 'node_modules')), 'nothing nested under the main package')
})

test('require(\'pi-usage-tracker\') in that project loads the platform package and tracks', { timeout: 30_000 }, async () => {
  const script = `
    const pkg = require('pi-usage-tracker')
    const binary = Object.keys(require.cache).find((k) => k.endsWith('.node'))
    const tracker = new pkg.UsageTracker({ intervalMs: 60000, cachePath: null })
    tracker.registerBuiltinProvider('anthropic', { baseUrl: process.env.SB_URL, credentials: { accessToken: process.env.SB_TOKEN } })
    tracker.refresh().then(async () => {
      const w = tracker.getWindow('anthropic', '5h')
      const pct = pkg.createWindowQuotaUsedPercentageProvider(tracker, 'anthropic', '5h')()
      await tracker.stop()
      console.log(JSON.stringify({ binary, ids: pkg.BUILTIN_PROVIDER_IDS, usedRatio: w && w.usedRatio, pct, check: tracker.checkQuota('anthropic').decision }))
    })`
  const r = await run(process.execPath, ['-e', script], { cwd: project, env: { PATH: process.env.PATH, HOME: home, SB_URL: sb.url, SB_TOKEN: sb.tokens.anthropic } })
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.binary, join(project, 'node_modules', PLATFORM_PKG, `usage-tracker.${PLATFORM}.node`), 'the binary comes from the platform package')
  assert.ok(out.ids.includes('anthropic') && out.ids.includes('github-copilot'))
  assert.equal(out.usedRatio, 0.37)
  assert.equal(out.pct, 37)
  assert.equal(out.check, 'proceed')
})

test('the installed usage-store CLI reads the sandbox', { timeout: 30_000 }, async () => {
  const env = { PATH: process.env.PATH, HOME: home, PI_CODING_AGENT_DIR: agentDir, PI_USAGE_TRACKER_BASE_URL: sb.url, NO_COLOR: '1' }
  const cli = join(project, 'node_modules', '.bin', 'usage-store')
  const r = await run(cli, ['--no-cache', '--json'], { cwd: project, env })
  assert.equal(r.code, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  const get = (key) => j.entries.find((e) => e.key === key)
  assert.equal(get('anthropic/default').windows.find((w) => w.id === '5h').usedPercent, 37)
  assert.deepEqual(get('openai-codex/default').windows.map((w) => [w.id, w.usedPercent]), [['5h', 23], ['7d', 41]])
  const premium = get('github-copilot/default').windows.find((w) => w.id === 'premium')
  assert.deepEqual([premium.remaining, premium.total], [173, 300])

  const table = await run(cli, ['--no-cache', '--provider', 'anthropic'], { cwd: project, env })
  assert.equal(table.code, 0, table.stderr)
  assert.match(table.stdout, /anthropic\s+5h\s+37%\s+63%/)
})

// pi's npm, for `pi install npm:…`: the package name is served from the packed tarballs, offline,
// into a private global prefix (npm_config_prefix), so `npm root -g` and `npm install -g` stay in tmp.
const NPM_WRAPPER = `import { spawnSync } from 'node:child_process'
const tarballs = JSON.parse(process.env.PACK_TARBALLS)
const args = process.argv.slice(2).flatMap((a) => tarballs[a] ?? [a])
if (args[0] === 'install') args.push('--offline', '--no-audit', '--no-fund')
const r = spawnSync('npm', args, { stdio: 'inherit' })
process.exit(r.status ?? 1)
`

const tmux = skip ? null : ensureTmux()
const pi = tmux ? ensurePi() : null
const missingPi = skip ? false : !tmux ? 'tmux not found and could not be installed' : !pi ? 'pi not found and could not be installed' : false
if (missingPi) console.log(`# pack: pi case cannot run: ${missingPi}`)

test('pi install npm:pi-usage-tracker (from the tarballs) shows the footer in a real pi', { timeout: 60_000 }, async () => {
  const prefix = join(tmp, 'npm-global')
  mkdirSync(prefix)
  writeFileSync(join(tmp, 'npm-wrapper.mjs'), NPM_WRAPPER)
  writeFileSync(join(agentDir, 'settings.json'), JSON.stringify({ npmCommand: [process.execPath, join(tmp, 'npm-wrapper.mjs')] }, null, 2))
  const env = piEnv(null, { home, agentDir, sandboxUrl: sb.url, extra: {
    npm_config_prefix: prefix,
    npm_config_cache: join(tmp, 'npm-cache'),
    npm_config_update_notifier: 'false',
    PACK_TARBALLS: JSON.stringify({ [PKG.name]: [mainTgz, platformTgz] }),
  } })
  const t0 = Date.now()
  const inst = await run(pi, ['install', `npm:${PKG.name}`], { cwd: project, env, timeout: 60_000 })
  assert.equal(inst.code, 0, `pi install failed:\n${inst.stdout}\n${inst.stderr}`)
  console.log(`# pi install npm:${PKG.name}: ${Date.now() - t0} ms`)
  const installed = join(prefix, 'lib', 'node_modules', PKG.name)
  assert.ok(existsSync(join(installed, 'extensions', 'usage-tracker', 'index.ts')), 'installed into the global prefix')
  assert.deepEqual(JSON.parse(readFileSync(join(agentDir, 'settings.json'), 'utf8')).packages, [`npm:${PKG.name}`])

  const session = new PiSession({ tmux, socket: join(tmp, 'tmux.sock'), width: 200, height: 50 })
  try {
    // no -e: the extension comes from the installed package's "pi" manifest
    session.start([pi, '--offline', '--no-session', '--no-context-files', '--no-skills'], { cwd: project, env })
    const screen = await session.waitFor((s) => /claude extra \$12\.50/.test(s) && /copilot 173\/300/.test(s), { what: 'usage in the footer', timeoutMs: 30_000 })
    const line = screen.split('\n').find((l) => l.includes('claude ')) ?? ''
    console.log(`# footer: ${line.trim()}`)
    // the model's provider leads with the windows that govern the model (Claude Opus on a login:
    // extra usage and the Opus weekly cap)
    assert.match(line, /^\s*claude extra \$12\.50\/\$50\.00 ↻\S+ · 7d_opus 12% │/)
    assert.match(line, /codex 5h 23%( ↻\S+)? · 7d 41%/)
    assert.ok(sb.requests.some((r) => r.providerId === 'anthropic' && r.status === 200), 'the installed addon fetched from the sandbox')
  } finally {
    session.kill()
  }
}, missingPi)
