// Child of bench/run.mjs (run with --expose-gc): resident memory of a node process that is
// `bare`, has the `addon` loaded, or runs a `tracker` with five built-ins after one cycle.
import { createRequire } from 'node:module'

const mode = process.argv[2]
const { url, credentials } = JSON.parse(process.env.BENCH_SANDBOX)
let keep = null
if (mode !== 'bare') {
  const addon = createRequire(import.meta.url)('../index.js')
  keep = addon
  if (mode === 'tracker') {
    const t = new addon.UsageTracker({ intervalMs: 60_000, cachePath: null })
    for (const id of Object.keys(credentials)) t.registerBuiltinProvider(id, { baseUrl: url, credentials: credentials[id] })
    const alive = setInterval(() => {}, 1000) // the tracker never holds the process open itself
    t.start()
    await t.refresh()
    clearInterval(alive)
    keep = t
  }
}
for (let i = 0; i < 3; i++) {
  globalThis.gc()
  await new Promise((r) => setTimeout(r, 50))
}
console.log(JSON.stringify({ mode, rss: process.memoryUsage().rss, kept: keep !== null }))
process.exit(0)
