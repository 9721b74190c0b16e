// A throwaway pi agent dir and HOME for tests that read credentials in this process, the way pi
// resolves them: every variable a built-in reads is unset for the call (the list comes from the
// addon's provider table), so only what the test puts there counts; all is restored after.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const { BUILTIN_PROVIDERS } = require('../../index.js')

/** Every environment variable a built-in provider reads a credential from. */
const PROVIDER_ENV = [...new Set(BUILTIN_PROVIDERS.flatMap((p) => p.auth.env))]

/** Runs fn(agentDir) with a fresh agent dir holding `files` (name → JSON value), a fresh HOME
 *  and `env` set. */
export async function withPiFiles(files, env, fn) {
  const agentDir = mkdtempSync(join(tmpdir(), 'put-agent-'))
  const home = mkdtempSync(join(tmpdir(), 'put-home-'))
  for (const [name, body] of Object.entries(files)) writeFileSync(join(agentDir, name), JSON.stringify(body))
  const names = ['PI_CODING_AGENT_DIR', 'HOME', 'PI_USAGE_TRACKER_BASE_URL', ...PROVIDER_ENV, ...Object.keys(env)]
  const saved = Object.fromEntries(names.map((k) => [k, process.env[k]]))
  for (const k of [...PROVIDER_ENV, 'PI_USAGE_TRACKER_BASE_URL']) delete process.env[k]
  Object.assign(process.env, { PI_CODING_AGENT_DIR: agentDir, HOME: home }, env)
  try {
    return await fn(agentDir)
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
    rmSync(agentDir, { recursive: true, force: true })
    rmSync(home, { recursive: true, force: true })
  }
}

/** withPiFiles with an `auth.json` of `auth` (none when undefined). */
export function withPiAuth(auth, env, fn) {
  return withPiFiles(auth === undefined ? {} : { 'auth.json': auth }, env, fn)
}
