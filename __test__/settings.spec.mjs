// The extension's settings file through the built addon: readSettings() gives `{ path, options,
// problems }` by the addon's rules, and what it gives always starts a tracker; saveSettings()
// refuses a bad value with a TypeError and an unchanged file, and otherwise replaces the file
// keeping the keys it does not know.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'

const addon = createRequire(import.meta.url)('../index.js')

let dir
let file
const saved = process.env.PI_CODING_AGENT_DIR

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'usage-settings-'))
  file = path.join(dir, 'usage-tracker.json')
  process.env.PI_CODING_AGENT_DIR = dir
})

after(() => {
  if (saved === undefined) delete process.env.PI_CODING_AGENT_DIR
  else process.env.PI_CODING_AGENT_DIR = saved
  rmSync(dir, { recursive: true, force: true })
})

test('no file: the defaults, every provider on, no problem', () => {
  rmSync(file, { force: true })
  const r = addon.readSettings()
  assert.equal(r.path, file)
  assert.deepEqual(r.problems, [])
  assert.deepEqual(Object.keys(r.options.providers).sort(), [...addon.BUILTIN_PROVIDER_IDS].sort())
  assert.ok(Object.values(r.options.providers).every((on) => on === true))
  assert.equal(r.options.style, 'compact')
  assert.equal(r.options.whenExhausted, 'ask')
})

test('a hand-edited file with bad values: each named once, its default used, the tracker starts', async () => {
  writeFileSync(file, JSON.stringify({ warnAt: 0.05, criticalAt: 0.3, style: 'wide', notify: false, providers: { zai: false, nope: true } }))
  const r = addon.readSettings()
  const defaults = (rmSync(file), addon.readSettings().options)
  assert.equal(r.problems.length, 3, r.problems.join('\n'))
  assert.match(r.problems[0], /"style" is "wide", expected "compact" or "full"; using the default "compact"/)
  assert.match(r.problems[1], /"providers" names "nope", which is not a built-in provider; ignored/)
  assert.match(r.problems[2], /"warnAt" \(0\.05\) is below "criticalAt" \(0\.3\).*using the defaults/)
  for (const p of r.problems) assert.ok(p.startsWith(`${file}: `), p)
  assert.equal(r.options.warnAt, defaults.warnAt)
  assert.equal(r.options.criticalAt, defaults.criticalAt)
  assert.equal(r.options.notify, false, 'a good key next to bad ones counts')
  assert.equal(r.options.providers.zai, false)
  const tracker = new addon.UsageTracker({ ...r.options.tracker, cachePath: null })
  await tracker.stop()
})

test('saveSettings: a refused value throws and leaves the file; an accepted one keeps unknown keys', () => {
  const original = JSON.stringify({ myNote: 'keep me', criticalAt: 0.2 })
  writeFileSync(file, original)
  assert.throws(() => addon.saveSettings({ warnAt: 0.1 }), (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_VALUE' && /not saved: .*"warnAt" \(0\.1\) is below "criticalAt" \(0\.2\)/.test(err.message))
  assert.throws(() => addon.saveSettings({ intervalMs: 10 }), /"intervalMs" is 10, expected a whole number of milliseconds, at least 1000/)
  assert.equal(readFileSync(file, 'utf8'), original)
  const r = addon.saveSettings({ warnAt: 0.4, providers: { deepseek: false } })
  assert.deepEqual(r.problems, [])
  assert.equal(r.options.warnAt, 0.4)
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { myNote: 'keep me', criticalAt: 0.2, warnAt: 0.4, providers: { deepseek: false } })
  assert.deepEqual(readdirSync(dir), ['usage-tracker.json'], 'no temp file left')
})
