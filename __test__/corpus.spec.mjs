// The corpus of recorded answers (crates/usage-core/fixtures/corpus/, format in its README.md):
// every case is served byte for byte by the loopback sandbox (a body) or handed to
// observeResponse (a header capture), read through the built addon, and held to its
// .expect.json. A case directory without cases, a case without notes or expectations, or an
// expectation missing a value fails.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { useSandbox } from './sandbox.mjs'

const require = createRequire(import.meta.url)
const { UsageTracker, BUILTIN_PROVIDER_IDS } = require('../index.js')

const CORPUS = fileURLToPath(new URL('../crates/usage-core/fixtures/corpus/', import.meta.url))
const sb = useSandbox()

const EPS = 1e-6
const BODY = '.json'
const HEADERS = '.headers.json'
const EXPECT = '.expect.json'
const NOTES = '.md'

/** Cases of one provider directory: `{ name, kind: 'body' | 'headers', file }`. */
function casesOf(dir) {
  const files = readdirSync(dir)
  const cases = []
  for (const f of files) {
    if (f.endsWith(EXPECT)) continue
    if (f.endsWith(HEADERS)) cases.push({ name: f.slice(0, -HEADERS.length), kind: 'headers', file: f })
    else if (f.endsWith(BODY)) cases.push({ name: f.slice(0, -BODY.length), kind: 'body', file: f })
  }
  return cases.sort((a, b) => a.name.localeCompare(b.name))
}

const providerDirs = readdirSync(CORPUS)
  .filter((d) => statSync(join(CORPUS, d)).isDirectory())
  .sort()

test('the corpus has provider directories, each with cases, each case with notes and expectations', () => {
  assert.ok(providerDirs.length > 0, `no provider directory under ${CORPUS}`)
  const builtins = new Set(BUILTIN_PROVIDER_IDS)
  for (const dir of providerDirs) {
    assert.ok(builtins.has(dir), `corpus/${dir}: not a built-in provider id`)
    const cases = casesOf(join(CORPUS, dir))
    assert.ok(cases.length > 0, `corpus/${dir}: no cases`)
    const names = new Set()
    for (const c of cases) {
      assert.ok(!names.has(c.name), `corpus/${dir}/${c.name}: both a body and a header capture`)
      names.add(c.name)
      assert.ok(existsSync(join(CORPUS, dir, c.name + NOTES)), `corpus/${dir}/${c.name}: no ${NOTES} notes`)
      assert.ok(existsSync(join(CORPUS, dir, c.name + EXPECT)), `corpus/${dir}/${c.name}: no ${EXPECT}`)
    }
    for (const f of readdirSync(join(CORPUS, dir))) {
      const stem = f.endsWith(EXPECT) ? f.slice(0, -EXPECT.length) : f.endsWith(NOTES) ? f.slice(0, -NOTES.length) : null
      if (stem !== null) assert.ok(names.has(stem), `corpus/${dir}/${f}: no case of that name`)
    }
  }
})

const WINDOW_KEYS = {
  required: ['usedRatio', 'resetsAt'],
  optional: ['kind', 'unit', 'total', 'used', 'remaining', 'duration', 'unlimited', 'status'],
}

/** Checks the expect file's own shape, so a forgotten value fails rather than passes. */
function checkExpect(where, e, kind) {
  const need = (cond, what) => assert.ok(cond, `${where}: ${what}`)
  need(e && typeof e === 'object' && !Array.isArray(e), 'the expect file is not an object')
  for (const k of ['error', 'plan', 'warnings', 'windows', 'models']) need(k in e, `expect value "${k}" is missing`)
  if (kind === 'headers') need(Number.isInteger(e.status), 'a header capture needs "status" (the response status observed)')
  const known = new Set(['error', 'plan', 'warnings', 'windows', 'models', 'status', 'endpoint', 'note'])
  for (const k of Object.keys(e)) need(known.has(k), `unknown expect key "${k}"`)
  need(e.error === null || (typeof e.error === 'object' && typeof e.error.kind === 'string' && typeof e.error.contains === 'string'), '"error" is null or {kind, contains}')
  need(e.plan === null || typeof e.plan === 'string', '"plan" is a string or null')
  need(Array.isArray(e.warnings) && e.warnings.every((w) => typeof w === 'string'), '"warnings" is a list of substrings')
  const checkWindows = (ws, at) => {
    need(ws && typeof ws === 'object' && !Array.isArray(ws), `${at} is an object of window id → values`)
    for (const [id, w] of Object.entries(ws)) {
      for (const k of WINDOW_KEYS.required) need(k in w, `${at}.${id}: value "${k}" is missing`)
      for (const k of Object.keys(w)) need(WINDOW_KEYS.required.includes(k) || WINDOW_KEYS.optional.includes(k), `${at}.${id}: unknown key "${k}"`)
      need(typeof w.usedRatio === 'number', `${at}.${id}.usedRatio is a number`)
      need(typeof w.resetsAt === 'boolean', `${at}.${id}.resetsAt is true (a reset time is known) or false`)
    }
  }
  checkWindows(e.windows, 'windows')
  need(e.models && typeof e.models === 'object' && !Array.isArray(e.models), '"models" is an object of model → windows')
  for (const [m, ws] of Object.entries(e.models)) checkWindows(ws, `models.${m}`)
  if (e.error) need(Object.keys(e.windows).length === 0 && Object.keys(e.models).length === 0, 'a failed fetch has no windows')
}

function assertWindows(where, actual, expected) {
  const byId = new Map(actual.map((w) => [w.id, w]))
  assert.deepEqual([...byId.keys()].sort(), Object.keys(expected).sort(), `${where}: window ids`)
  for (const [id, want] of Object.entries(expected)) {
    const got = byId.get(id)
    const at = `${where}#${id}`
    assert.ok(Math.abs(got.usedRatio - want.usedRatio) < EPS, `${at}: usedRatio ${got.usedRatio}, expected ${want.usedRatio}`)
    assert.equal(got.resetsAt !== undefined && got.resetsAt !== null, want.resetsAt, `${at}: resetsAt ${got.resetsAt}`)
    for (const k of ['total', 'used', 'remaining']) {
      if (k in want) assert.ok(Math.abs(got[k] - want[k]) < EPS, `${at}: ${k} ${got[k]}, expected ${want[k]}`)
    }
    if ('duration' in want) assert.equal(got.duration ?? null, want.duration, `${at}: duration`)
    for (const k of ['kind', 'unit', 'status']) {
      if (k in want) assert.equal(got[k] ?? null, want[k], `${at}: ${k}`)
    }
    if ('unlimited' in want) assert.equal(got.unlimited, want.unlimited, `${at}: unlimited`)
  }
}

/** The per-model entries a case names: all but the default model and the per-model views a
 *  multiplier pool derives from the default entry's pool. */
function modelEntries(tracker, providerId) {
  return tracker
    .entries()
    .filter((e) => e.providerId === providerId && e.modelId !== 'default')
    .filter((e) => !e.windows.every((w) => w.kind === 'multiplier'))
}

function assertOutcome(where, tracker, providerId, expect) {
  // A provider whose windows are all per model (Gemini CLI) has no default entry.
  const entry = tracker.get(providerId) ?? tracker.entries().find((e) => e.providerId === providerId)
  assert.ok(entry, `${where}: no entry`)
  if (expect.error) {
    assert.ok(entry.error, `${where}: expected error kind ${expect.error.kind}, got none (windows ${entry.windows.map((w) => w.id)})`)
    assert.equal(entry.error.kind, expect.error.kind, `${where}: error kind (${entry.error.message})`)
    assert.ok(entry.error.message.includes(expect.error.contains), `${where}: error "${entry.error.message}" lacks "${expect.error.contains}"`)
  } else {
    assert.equal(entry.error, undefined, `${where}: error ${JSON.stringify(entry.error)}`)
  }
  assert.equal(entry.plan ?? null, expect.plan, `${where}: plan`)
  const warnings = entry.warnings ?? []
  assert.equal(warnings.length, expect.warnings.length, `${where}: warnings ${JSON.stringify(warnings)}`)
  expect.warnings.forEach((w, i) => assert.ok(warnings[i].includes(w), `${where}: warning "${warnings[i]}" lacks "${w}"`))
  assertWindows(where, entry.modelId === 'default' ? entry.windows : [], expect.windows)
  const models = modelEntries(tracker, providerId)
  assert.deepEqual(models.map((e) => e.modelId).sort(), Object.keys(expect.models).sort(), `${where}: models`)
  for (const e of models) assertWindows(`${where}@${e.modelId}`, e.windows, expect.models[e.modelId])
}

const newTracker = () => new UsageTracker({ cachePath: null, requestTimeoutMs: 5000, history: false })

for (const providerId of providerDirs) {
  const dir = join(CORPUS, providerId)
  describe(`corpus/${providerId}`, () => {
    for (const c of casesOf(dir)) {
      const where = `corpus/${providerId}/${c.name}`
      test(`${c.name} (${c.kind === 'body' ? 'body' : 'headers'})`, async () => {
        const expect = JSON.parse(readFileSync(join(dir, c.name + EXPECT), 'utf8'))
        checkExpect(where, expect, c.kind)
        const raw = readFileSync(join(dir, c.file), 'utf8')
        const tracker = newTracker()
        tracker.registerBuiltinProvider(providerId, { baseUrl: sb.url, credentials: sb.credentials(providerId) })
        if (c.kind === 'body') {
          // Served as recorded, byte for byte (a string is not re-serialised).
          sb.setFixture(providerId, raw, expect.endpoint ?? 'usage')
          await tracker.refresh()
        } else {
          const headers = JSON.parse(raw)
          assert.ok(headers && typeof headers === 'object' && !Array.isArray(headers), `${where}: a header capture is an object of name → value`)
          const changed = tracker.observeResponse(providerId, expect.status, headers)
          const expectsAnything = Object.keys(expect.windows).length > 0 || Object.keys(expect.models).length > 0
          assert.equal(changed, expectsAnything, `${where}: observeResponse returned ${changed}`)
          if (!changed) {
            assert.equal(tracker.get(providerId)?.windows?.length ?? 0, 0, `${where}: nothing observed, nothing shown`)
            assert.deepEqual([expect.error, expect.plan, expect.warnings], [null, null, []], `${where}: nothing observed has no error, plan or warnings`)
            return
          }
        }
        assertOutcome(where, tracker, providerId, expect)
      })
    }
  })
}
