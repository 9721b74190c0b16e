#!/usr/bin/env node
// Complete package-lock.json with the platform packages a registry did not serve.
//
// napi-rs packages (ours, and @napi-rs/cli's lzma/tar/wasm-tools) list one optional dependency
// per platform. When `npm install` cannot fetch some of them (a registry mirror that carries only
// this machine's platform, or our own pi-usage-tracker-<platform> packages before their first
// publish) it silently leaves them out of the lockfile, and `npm ci` then refuses the lockfile
// ("Missing: @napi-rs/lzma-darwin-arm64@ from lock file"). A lockfile written where every
// package exists has an entry for each, with os/cpu/libc, so `npm ci` skips the foreign ones
// without fetching them. This script adds exactly those entries, taking os/cpu/libc from the
// napi-rs package-name suffix (`<name>-<platform>-<arch>[-<abi>]`).
//
//   node .github/scripts/complete-lockfile.mjs [package-lock.json]
//
// Run it after `npm install` / `npm install --package-lock-only`; it is idempotent.
import { readFileSync, writeFileSync } from 'node:fs'

const file = process.argv[2] ?? 'package-lock.json'
const lock = JSON.parse(readFileSync(file, 'utf8'))
const pkgs = lock.packages

const CPU = { x64: 'x64', ia32: 'ia32', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64', riscv64: 'riscv64', s390x: 's390x', loong64: 'loong64', wasm32: 'wasm32' }
const OS = ['android', 'darwin', 'freebsd', 'linux', 'win32', 'openharmony', 'netbsd']

/** os/cpu/libc of a napi-rs platform package, from its name; null when the name is not one. */
function platformOf(name) {
  const m = /-(android|darwin|freebsd|linux|win32|openharmony|netbsd|wasm32)-([a-z0-9]+)(?:-([a-z]+))?$/.exec(name)
  if (!m) return null
  const [, os, second, abi] = m
  if (os === 'wasm32') return { cpu: ['wasm32'] } // <name>-wasm32-wasi: runs anywhere Node has WASI
  if (second === 'universal') return { os: [os] }
  const cpu = CPU[second]
  if (!cpu || !OS.includes(os)) return null
  const out = { cpu: [cpu], os: [os] }
  if (os === 'linux' && abi) out.libc = [abi === 'musl' ? 'musl' : 'glibc']
  return out
}

// Where node resolution would put a dependency of the package at `at`: its own node_modules,
// then each ancestor's, then the top level. Entries already present anywhere on that path count.
function resolves(at, name) {
  let dir = at
  for (;;) {
    if (pkgs[`${dir ? `${dir}/` : ''}node_modules/${name}`]) return true
    if (!dir) return false
    const i = dir.lastIndexOf('node_modules/')
    dir = i <= 0 ? '' : dir.slice(0, i - 1)
  }
}

let added = 0
for (const [at, entry] of Object.entries(pkgs)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    if (resolves(at, name)) continue
    const platform = platformOf(name)
    if (!platform) {
      console.warn(`skip ${name}@${spec} (needed by ${at || 'the root'}): not a napi-rs platform package name`)
      continue
    }
    if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec)) {
      console.warn(`skip ${name}@${spec}: not an exact version`)
      continue
    }
    const e = { ...platform, optional: true }
    if (entry.dev) e.dev = true
    if (entry.license) e.license = entry.license
    // npm's key order: version first, the rest alphabetical
    pkgs[`node_modules/${name}`] = { version: spec, ...Object.fromEntries(Object.entries(e).sort(([a], [b]) => a.localeCompare(b, 'en'))) }
    added++
    console.log(`added node_modules/${name}@${spec} ${JSON.stringify(platform)}`)
  }
}

// npm's own order: the root first, then by path
const sorted = { '': pkgs[''] }
for (const k of Object.keys(pkgs).filter((k) => k).sort((a, b) => a.localeCompare(b, 'en'))) sorted[k] = pkgs[k]
lock.packages = sorted
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`)
console.log(`${file}: ${added} entr${added === 1 ? 'y' : 'ies'} added`)
