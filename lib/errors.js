'use strict'
// Errors from the addon carry a stable `code`; which codes mean a bad argument comes from the
// addon too (`errorCodes()`), so this file holds no list of its own.

const { errorCodes } = require('./binding.js')

const TYPE_ERROR_CODES = new Set(errorCodes().filter((c) => c.typeError).map((c) => c.code))

/** napi's own conversion failures (a string where a number was expected, …). */
const isNapiTypeFailure = (code) => typeof code === 'string' && /Expected$|^InvalidArg$/.test(code)

/** The addon's error as the class callers expect: `TypeError` for a bad argument. */
function toJsError(err) {
  if (!err || typeof err !== 'object') return err
  const code = err.code
  if (!(err instanceof TypeError) && (TYPE_ERROR_CODES.has(code) || isNapiTypeFailure(code))) {
    const typed = new TypeError(err.message)
    typed.code = isNapiTypeFailure(code) ? 'ERR_INVALID_ARG_TYPE' : code
    return typed
  }
  return err
}

/** A failure the addon returned as data (`{ code, message }`), as a thrown-ready error. */
function fromFailure(failure) {
  const err = TYPE_ERROR_CODES.has(failure.code) ? new TypeError(failure.message) : new Error(failure.message)
  err.code = failure.code
  return err
}

function callNative(fn) {
  try {
    return fn()
  } catch (err) {
    throw toJsError(err)
  }
}

module.exports = { toJsError, fromFailure, callNative }
