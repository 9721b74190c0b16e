// On a developer's machine a part of the suite whose tool (tmux, a pi, the release build) is
// missing is skipped with the reason; where the environment says it is CI (CI=1 or CI=true,
// which .ci/run sets) the same part fails instead, so CI never goes green without it.
import { describe, test } from 'node:test'

export const IN_CI = ['1', 'true'].includes(String(process.env.CI ?? '').trim().toLowerCase())

function failInstead(name, reason) {
  test(`${name}: cannot run`, () => {
    throw new Error(`${reason}; CI=${process.env.CI} requires it, so this is a failure, not a skip`)
  })
}

/** describe(name, body), or when `reason` says what is missing: a skip off CI, a failure on CI. */
export function describeNeeding(name, reason, body) {
  if (!reason) return describe(name, body)
  if (IN_CI) return failInstead(name, reason)
  return describe(name, { skip: reason }, body)
}

/** test(name, options, fn) with the same rule for `reason`. */
export function testNeeding(name, reason, options, fn) {
  if (!reason) return test(name, options, fn)
  if (IN_CI) return failInstead(name, reason)
  return test(name, { ...options, skip: reason }, fn)
}
