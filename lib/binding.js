'use strict'
// Loads the generated binding; when the platform's binary is missing, says which package and
// what to do instead of napi's generic error.

/** The generated loader throws "Cannot find native binding" with the package it looked for
 *  buried in `cause`; name the missing platform package and what to do about it. */
function loadBinding() {
  try {
    return require('../binding.js')
  } catch (err) {
    if (!err || !String(err.message).startsWith('Cannot find native binding')) throw err
    const { name, version, optionalDependencies = {} } = require('../package.json')
    const libc = process.report?.getReport?.().header?.glibcVersionRuntime ? '-gnu' : '-musl'
    const abi = process.platform === 'linux' ? libc : process.platform === 'win32' ? '-msvc' : ''
    const platform = `${process.platform}-${process.arch}${abi}`
    const pkg = `${name}-${platform}`
    let why = ''
    for (let e = err.cause; e; e = e.cause) {
      if (!/^Cannot find module /.test(e.message)) why = ` (${e.message.split('\n')[0]})`
    }
    const prebuilt = Object.keys(optionalDependencies).map((d) => d.slice(name.length + 1))
    const message =
      pkg in optionalDependencies
        ? `${name}: no native binary for ${platform}: the package ${pkg} did not load${why}. It is an optional dependency; reinstall without --omit=optional (npm i ${pkg}@${version}), or build from source with \`npm run build\` (needs Rust).`
        : `${name}: no prebuilt binary for ${platform} (prebuilt: ${prebuilt.join(', ')}); build from source with \`npm run build\` (needs Rust).`
    const error = new Error(message, { cause: err })
    error.code = 'ERR_PI_USAGE_TRACKER_NO_BINARY'
    throw error
  }
}

module.exports = loadBinding()
