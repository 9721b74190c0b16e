'use strict'
// Package entry: loads the addon and re-exports it with the JS pieces under lib/.

const binding = require('./lib/binding.js')
const { UsageTracker } = require('./lib/tracker.js')
const { callNative } = require('./lib/errors.js')
const guards = require('./lib/quota-guards.js')
const contextProviders = require('./lib/context-providers.js')

const BUILTIN_PROVIDERS = Object.freeze(binding.builtinProviders().map((p) => Object.freeze(p)))

module.exports = {
  UsageTracker,
  /** The built-in providers, `{ id, label }`, from the addon's one table. */
  BUILTIN_PROVIDERS,
  BUILTIN_PROVIDER_IDS: Object.freeze(BUILTIN_PROVIDERS.map((p) => p.id)),
  resolveUsageWindow: (quota, snapshot) => callNative(() => binding.resolveUsageWindow(quota, snapshot)),
  /** pi's agent dir as the tracker resolves it. */
  agentDir: () => binding.agentDir(),
  /** What a pi auth.json entry means for a built-in provider (never the token). */
  credentialsFromPiAuth: (providerId, entry) => callNative(() => binding.credentialsFromPiAuth(providerId, entry)),
  /** The extension's settings file as the addon reads it: `{ path, options, problems }`. */
  readSettings: () => binding.readSettings(),
  /** Changes the settings file atomically (keys not named are kept); throws on a refused value. */
  saveSettings: (changes) => callNative(() => binding.saveSettings(changes)),
  /** What the last read of pi's auth.json found wrong with the file, or null. */
  piAuthProblem: () => binding.piAuthProblem(),
  ...guards,
  ...contextProviders,
}
