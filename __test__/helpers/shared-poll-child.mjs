// One "pi window" for shared-poll.spec.mjs: a tracker with built-ins pointed at the test's
// sandbox, sharing one cache file with its siblings. Config comes as JSON in SHARED_POLL;
// it prints one line per update (`UPDATE {...}`) and, after runMs, its store (`ENTRIES {...}`).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { UsageTracker } = require('../../index.js')

const { url, credentials, cachePath, intervalMs, runMs } = JSON.parse(process.env.SHARED_POLL)
const out = (tag, value) => process.stdout.write(`${tag} ${JSON.stringify(value)}\n`)

const tracker = new UsageTracker({ intervalMs, cachePath, requestTimeoutMs: 5_000 })
for (const [id, creds] of Object.entries(credentials)) {
  tracker.registerBuiltinProvider(id, { baseUrl: url, credentials: creds })
}
tracker.onUpdate((entries) => {
  const updated = {}
  for (const e of entries) updated[e.key] = e.updated
  out('UPDATE', { at: Date.now(), updated })
})
tracker.start()
out('STARTED', { pid: process.pid, at: Date.now() })

// The tracker never keeps a process alive on its own; this timer is the "window" staying open.
setTimeout(async () => {
  out('ENTRIES', { pid: process.pid, at: Date.now(), stats: tracker.stats(), entries: tracker.entries() })
  await tracker.stop()
}, runMs)
