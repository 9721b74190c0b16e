// Child of bench/run.mjs: CPU used while idle. `bare`: a node process holding a timer;
// `tracker`: the same plus a started tracker (5 built-ins, intervalMs 60000) after its first
// cycle. Prints { cpuMs, wallMs, pct, threads } (process.cpuUsage counts every thread).
import { createRequire } from 'node:module'
import { readdirSync } from 'node:fs'

const [mode, durationArg] = process.argv.slice(2)
const durationMs = Number(durationArg)
const { url, credentials } = JSON.parse(process.env.BENCH_SANDBOX)

if (mode === 'tracker') {
  const { UsageTracker } = createRequire(import.meta.url)('../index.js')
  const t = new UsageTracker({ intervalMs: 60_000, cachePath: null })
  for (const id of Object.keys(credentials)) t.registerBuiltinProvider(id, { baseUrl: url, credentials: credentials[id] })
  const first = new Promise((resolve) => t.onUpdate(resolve))
  const alive = setInterval(() => {}, 1000) // the tracker never holds the process open itself
  t.start()
  await first
  clearInterval(alive)
  globalThis.keep = t
}
await new Promise((r) => setTimeout(r, 200)) // let the first cycle's leftovers settle
const cpu0 = process.cpuUsage()
const t0 = performance.now()
await new Promise((r) => setTimeout(r, durationMs))
const cpu = process.cpuUsage(cpu0)
const wallMs = performance.now() - t0
const cpuMs = (cpu.user + cpu.system) / 1000
let threads = 0
try {
  threads = readdirSync('/proc/self/task').length
} catch {}
console.log(JSON.stringify({ mode, cpuMs, wallMs, pct: (cpuMs / wallMs) * 100, threads }))
process.exit(0)
