// Small helpers shared by the benchmark sections: statistics, interleaved timing, child processes.
import { spawn } from 'node:child_process'

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export const nowMs = () => performance.now()

/**
 * Runs `rounds` rounds; each round runs every variant once, in an order that rotates from
 * round to round, so drift of a noisy machine spreads over all variants alike.
 * `variants` maps name -> () => number (one sample, any unit). Returns name -> samples[].
 */
export async function interleave(variants, rounds) {
  const names = Object.keys(variants)
  const samples = Object.fromEntries(names.map((n) => [n, []]))
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length]
      samples[name].push(await variants[name]())
    }
  }
  return samples
}

/** Median of the per-round ratios a[i]/b[i]: each round's pair ran back to back. */
export const medianRatio = (a, b) => median(a.map((x, i) => x / b[i]))

/** Spawns `node args...`; resolves { code, signal, stdout, stderr, ms } (wall time from spawn to exit). */
export function runNode(args, { env, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = nowMs()
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: nowMs() - t0 })
    })
  })
}

/** Last line of a child's stdout parsed as JSON (children print one result line last). */
export function lastJson(res) {
  const lines = res.stdout.trim().split('\n')
  try {
    return JSON.parse(lines[lines.length - 1])
  } catch {
    throw new Error(`child gave no JSON (code ${res.code}, signal ${res.signal}): ${res.stdout}\n${res.stderr}`)
  }
}

// ---- formatting ----
export const fmtNs = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(1)} ns`)
export const fmtMs = (ms) => `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`
export const fmtX = (x) => `${x.toFixed(2)}×`
