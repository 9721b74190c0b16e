// The pi versions the end-to-end test runs, and getting each one (plus the Node it needs) into a
// cache dir that later runs reuse. Nothing is installed globally.
//   node __test__/helpers/pi-install.mjs    install every version up front (what .ci/run does)
// PI_BIN=/path/to/pi: test that pi alone instead of the pinned versions.
// PI_E2E_VERSIONS=1.6.0,...: test only those of the pinned versions.
// PI_E2E_CACHE: the cache dir (default ${XDG_CACHE_HOME:-~/.cache}/pi-usage-tracker).
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** minNode: pi's `engines.node`; node: the release fetched to run pi with when ours is older. */
export const PI_VERSIONS = [
  { pkg: '@mariozechner/pi-coding-agent', version: '0.73.1' },
  { pkg: '@earendil-works/pi-coding-agent', version: '1.6.0', minNode: '22.19.0', node: '22.23.5' },
]

export const CACHE_DIR = process.env.PI_E2E_CACHE ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'pi-usage-tracker')

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...opts })

const log = (msg) => process.stderr.write(`# pi-install: ${msg}\n`)

const parts = (v) => v.split('.').map(Number)
const atLeast = (have, want) => {
  const [a, b] = [parts(have), parts(want)]
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0)
  return true
}

const runsOnOurNode = ({ minNode }) => !minNode || atLeast(process.versions.node, minNode)

/** Build `dest` in a temp dir next to it with fill(tmp), then move it into place, so an
 *  interrupted install never looks finished. */
function installAtomically(dest, fill) {
  mkdirSync(dirname(dest), { recursive: true })
  const tmp = mkdtempSync(`${dest}.tmp-`)
  try {
    fill(tmp)
    chmodSync(tmp, 0o755) // mkdtemp made it private
    rmSync(dest, { recursive: true, force: true })
    renameSync(tmp, dest)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** A Node binary of exactly `version` from the npm package node-<platform>-<arch> (the official
 *  build, repackaged; no install script), cached; null when it cannot be had. */
export function ensureNode(version) {
  const dir = join(CACHE_DIR, `node-${version}`)
  const bin = join(dir, 'bin', 'node')
  if (existsSync(bin)) return bin
  const pkg = `node-${process.platform}-${process.arch}@${version}`
  log(`fetching ${pkg}`)
  try {
    installAtomically(dir, (tmp) => {
      const packed = run('npm', ['pack', '--silent', pkg], { cwd: tmp })
      const tgz = packed.stdout?.trim().split('\n').pop()
      if (packed.status !== 0 || !tgz) throw new Error(`npm pack ${pkg} failed: ${packed.stderr}`)
      const untar = run('tar', ['xzf', tgz, '--strip-components=1', 'package/bin/node'], { cwd: tmp })
      if (untar.status !== 0) throw new Error(`extracting node from ${tgz} failed: ${untar.stderr}`)
      rmSync(join(tmp, tgz))
    })
  } catch (e) {
    log(e.message)
    return null
  }
  return existsSync(bin) ? bin : null
}

/** How to run one pinned pi: { version, label, node, cli, bin, argv, env }; argv starts pi, env
 *  has PATH with that Node first (so anything pi spawns with `node` or `npm` gets the same one);
 *  bin is npm's `.bin/pi` link, which runs on whatever `node` PATH finds. null when pi or its
 *  Node cannot be installed. */
export function ensurePiVersion({ pkg, version, minNode, node: nodeVersion }) {
  const ours = runsOnOurNode({ minNode })
  const node = ours ? process.execPath : ensureNode(nodeVersion)
  if (!node) return null
  const prefix = join(CACHE_DIR, `pi-${version}`)
  const pkgJson = join(prefix, 'node_modules', ...pkg.split('/'), 'package.json')
  const path = [dirname(node), process.env.PATH].join(delimiter)
  const installed = () => existsSync(pkgJson) && JSON.parse(readFileSync(pkgJson, 'utf8')).version === version
  if (!installed()) {
    log(`installing ${pkg}@${version}`)
    try {
      installAtomically(prefix, (tmp) => {
        // npm itself runs on `node` from PATH: pi's Node, so engine checks and scripts see it
        const r = run('npm', ['install', '--prefix', tmp, '--no-audit', '--no-fund', '--no-save', `${pkg}@${version}`], { env: { ...process.env, PATH: path } })
        if (r.status !== 0) throw new Error(`npm install ${pkg}@${version} failed: ${r.stderr}`)
      })
    } catch (e) {
      log(e.message)
      return null
    }
    if (!installed()) return null
  }
  const meta = JSON.parse(readFileSync(pkgJson, 'utf8'))
  const cli = resolve(dirname(pkgJson), typeof meta.bin === 'string' ? meta.bin : meta.bin.pi)
  const bin = join(prefix, 'node_modules', '.bin', 'pi')
  return { version, label: `pi ${version} (node ${ours ? process.versions.node : nodeVersion})`, node, cli, bin, packageDir: dirname(pkgJson), argv: [node, cli], env: { PATH: path } }
}

/** One pi as a single executable, for callers that take a path: $PI_BIN, or the newest pinned
 *  pi that runs on this process's Node; null when impossible. */
export function piBin() {
  if (process.env.PI_BIN) return existsSync(process.env.PI_BIN) ? process.env.PI_BIN : null
  const runsHere = PI_VERSIONS.filter(runsOnOurNode)
  return runsHere.length ? ensurePiVersion(runsHere.at(-1))?.bin ?? null : null
}

/** The pis to test: PI_BIN alone, or each pinned version (filtered by PI_E2E_VERSIONS), each
 *  as ensurePiVersion's result or { version, label, skip } when it cannot be installed. */
export function pisToTest() {
  if (process.env.PI_BIN) {
    const bin = process.env.PI_BIN
    if (!existsSync(bin)) return [{ version: '?', label: `PI_BIN=${bin}`, skip: `PI_BIN=${bin} does not exist` }]
    const r = run(bin, ['--version']) // 0.73 prints it on stderr
    const v = (r.stdout?.trim() || r.stderr?.trim() || '?').split('\n').pop()
    return [{ version: v, label: `pi ${v} (PI_BIN)`, argv: [bin], env: { PATH: process.env.PATH } }]
  }
  const only = process.env.PI_E2E_VERSIONS?.split(',').map((s) => s.trim())
  return PI_VERSIONS.filter((p) => !only || only.includes(p.version)).map(
    (p) => ensurePiVersion(p) ?? { version: p.version, label: `pi ${p.version}`, skip: `${p.pkg}@${p.version} (or its Node) could not be installed` },
  )
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let failed = false
  for (const p of pisToTest()) {
    if (p.skip) {
      failed = true
      log(p.skip)
      continue
    }
    const v = run(p.argv[0], [...p.argv.slice(1), '--version'], { env: { ...process.env, ...p.env } })
    log(`${p.label}: ${p.argv.join(' ')} -> ${(v.stdout || v.stderr).trim()}`)
  }
  process.exit(failed ? 1 : 0)
}
