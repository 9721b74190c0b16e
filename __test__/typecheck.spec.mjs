// The extension is TypeScript that pi loads without a compiler, so nothing would notice a
// type error or an API pi dropped. This checks it with tsc against the package's own
// declarations (index.d.ts, binding.d.ts) and pi 1.6's (from the e2e cache), strictly.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { pisToTest } from './helpers/pi-install.mjs'
import { testNeeding } from './helpers/ci.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const tsc = require.resolve('typescript/bin/tsc')
const pi16 = pisToTest().find((p) => p.version?.startsWith('1.'))
const piTypes = pi16?.packageDir && join(pi16.packageDir, 'dist', 'index.d.ts')
const skip = !piTypes || !existsSync(piTypes) ? `pi 1.6 is not installed (${pi16?.skip ?? 'no package dir'})` : false

// without pi 1.6: skipped with the reason, a failure on CI
testNeeding('the extension type-checks against pi 1.6 and the package declarations', skip, { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'typecheck-'))
  try {
    const config = {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(root, 'node_modules', '@types')],
        baseUrl: root,
        // The name pi resolves for extensions in every version (1.x aliases its own pi-tui to it).
        paths: { '@earendil-works/pi-coding-agent': [piTypes], '@mariozechner/pi-coding-agent': [piTypes], '@mariozechner/pi-tui': [join(pi16.packageDir, '..', 'pi-tui', 'dist', 'index.d.ts')] },
      },
      files: [join(root, 'extensions', 'usage-tracker', 'index.ts')],
    }
    const file = join(dir, 'tsconfig.json')
    writeFileSync(file, JSON.stringify(config))
    let out = ''
    try {
      execFileSync(process.execPath, [tsc, '-p', file], { encoding: 'utf8', stdio: 'pipe' })
    } catch (err) {
      out = `${err.stdout}${err.stderr}`
    }
    assert.equal(out, '', `tsc found errors:\n${out}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

// lib/*.d.ts are the one statement of the JS modules' types (the extension imports them rather
// than declaring copies): each declares exactly what its module exports, and they check strictly
// on their own (the extension's check above skips declaration files).
const LIB_MODULES = ['format', 'view', 'guard', 'terminal', 'session']

test('each lib/*.d.ts declares exactly what its module exports', () => {
  const ts = require('typescript')
  for (const name of LIB_MODULES) {
    const file = join(root, 'lib', `${name}.d.ts`)
    const program = ts.createProgram([file], { noEmit: true })
    const checker = program.getTypeChecker()
    const symbol = checker.getSymbolAtLocation(program.getSourceFile(file))
    const declared = checker
      .getExportsOfModule(symbol)
      .filter((s) => s.flags & (ts.SymbolFlags.Value))
      .map((s) => s.name)
      .sort()
    const exported = Object.keys(require(`../lib/${name}.js`)).sort()
    assert.deepEqual(declared, exported, `lib/${name}.d.ts against lib/${name}.js`)
  }
})

test('lib/*.d.ts check strictly against the package declarations', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'typecheck-lib-'))
  try {
    const config = {
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: [] },
      files: LIB_MODULES.map((name) => join(root, 'lib', `${name}.d.ts`)),
    }
    const file = join(dir, 'tsconfig.json')
    writeFileSync(file, JSON.stringify(config))
    let out = ''
    try {
      execFileSync(process.execPath, [tsc, '-p', file], { encoding: 'utf8', stdio: 'pipe' })
    } catch (err) {
      out = `${err.stdout}${err.stderr}`
    }
    assert.equal(out, '', `tsc found errors:\n${out}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
