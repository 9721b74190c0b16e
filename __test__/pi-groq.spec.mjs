// End-to-end in the real pi 1.6 TUI (under tmux): a service with no usage endpoint becomes
// visible from the rate-limit headers of pi's own model call. pi's `groq` provider is pointed
// at a loopback OpenAI-compatible model API through models.json; one prompt is answered with
// Groq's documented `x-ratelimit-*` headers, and the footer then shows the daily requests left
// (the per-minute tokens stay out of it) while /usage-store lists both. The tracker never asks
// a usage endpoint for Groq. pi runs offline with a throwaway HOME and agent dir.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSandbox, rateLimitHeaders } from './sandbox.mjs'
import { startModelApi } from './model-api.mjs'
import { ensureTmux, PiSession, sleep } from './helpers/pi-tmux.mjs'
import { pisToTest } from './helpers/pi-install.mjs'
import { piEnv } from './helpers/pi-env.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const EXTENSION = process.env.PI_E2E_EXTENSION ?? join(here, '..', 'extensions', 'usage-tracker', 'index.ts')
const GROQ_MODEL = 'groq/llama-3.3-70b-versatile'
const GROQ_KEY = 'test-groq-e2e-key'

const tmux = ensureTmux()
// pi 1.6 is the pi that ships the `groq` provider with models.json base-URL overrides.
const pis = tmux ? pisToTest().filter((p) => p.version === '1.6.0' || p.skip) : [{ label: 'pi', skip: 'tmux not found and could not be installed' }]

for (const pi of pis) describe(`${pi.label}: a header-only provider from model traffic`, { skip: pi.skip ?? false }, () => groqCases(pi))

function groqCases(pi) {
  let sb
  let api
  let session
  let root

  before(async () => {
    sb = await startSandbox()
    api = await startModelApi()
    api.setReply('Hello from the loopback Groq.')
    api.setChatHeaders(() => rateLimitHeaders('groq', 7))
    root = mkdtempSync(join(tmpdir(), 'pi-e2e-groq-'))
    const agentDir = join(root, 'agent')
    const home = join(root, 'home')
    const project = join(root, 'project')
    for (const d of [agentDir, home, project]) mkdirSync(d, { recursive: true })
    // the key as pi stores it for an API-key provider; the model API checks it arrives
    writeFileSync(join(agentDir, 'auth.json'), JSON.stringify({ groq: { type: 'api_key', key: GROQ_KEY } }), { mode: 0o600 })
    writeFileSync(join(agentDir, 'usage-tracker.json'), JSON.stringify({ intervalMs: 60_000, cachePath: null }))
    writeFileSync(join(agentDir, 'models.json'), JSON.stringify({ providers: { groq: { baseUrl: `${api.url}/openai/v1` } } }))
    const env = piEnv(pi, { home, agentDir, sandboxUrl: sb.url })
    session = new PiSession({ tmux, socket: join(root, 'tmux.sock'), width: 200, height: 50 })
    session.start([...pi.argv, '--offline', '--no-session', '--no-extensions', '--no-context-files', '--no-skills', '--models', GROQ_MODEL, '--model', GROQ_MODEL, '-e', EXTENSION], { cwd: project, env })
    await session.waitFor(/llama-3\.3-70b-versatile/, { what: 'pi up on the Groq model', timeoutMs: 25_000 })
  })

  after(async () => {
    session?.kill()
    await sb?.close()
    await api?.close()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  test('one prompt: the footer shows the daily requests left from the response headers', { timeout: 60_000 }, async () => {
    assert.doesNotMatch(session.screen(), /groq \d+\/\d+/, 'nothing about Groq before any traffic')
    session.type('say hello')
    await sleep(200)
    session.key('Enter')
    await session.waitFor(/Hello from the loopback Groq/, { what: "the model's answer", timeoutMs: 30_000 })
    const screen = await session.waitFor(/groq 14393\/14400/, { what: 'the daily requests left in the footer', timeoutMs: 15_000 })
    const line = screen.split('\n').find((l) => l.includes('groq 14393')) ?? ''
    console.log(`# footer after one prompt: ${line.trim()}`)
    assert.doesNotMatch(line, /tokens|17160/, 'per-minute tokens stay out of the footer')
    const call = api.requests.find((r) => r.path === '/openai/v1/chat/completions')
    assert.ok(call, 'the prompt reached the loopback model through models.json')
    assert.equal(call.headers.authorization, `Bearer ${GROQ_KEY}`, "pi sent the key from auth.json")
    assert.equal(sb.requests.length, 0, 'no usage endpoint was asked: Groq has none')
  })

  test('/usage-store lists the daily requests and the per-minute tokens', { timeout: 30_000 }, async () => {
    await session.command('/usage-store')
    const view = await session.waitFor((s) => /requests-day .*14393\/14400/.test(s) && /tokens-minute .*17160\/18000/.test(s), { what: 'both windows in the view' })
    assert.match(view, /groq/)
    session.key('Escape')
  })
}
