'use strict'
// Errors from the addon carry a stable `code`; which codes mean a bad argument comes from the
// addon too (`errorCodes()`), so this file holds no list of its own.

const { errorCodes } = require('./binding.js')

const TYPE_ERROR_CODES = new Set(errorCodes().filter((c) => c.typeError).map((c) => c.code))

/** napi's own conversion failures (a string where a number was expected, …). */
const isNapiTypeFailure = (code) => typeof code === 'string' && /Expected$|^InvalidArg$/.test(code)

/** What napi's `<Kind>Expected` codes expected, in words. */
const EXPECTED = {
  NumberExpected: 'a number',
  StringExpected: 'a string',
  BooleanExpected: 'a boolean',
  ObjectExpected: 'an object',
  ArrayExpected: 'an array',
  FunctionExpected: 'a function',
  BigintExpected: 'a bigint',
  DateExpected: 'a Date',
  ArrayBufferExpected: 'an ArrayBuffer',
}

/**
 * napi describes a conversion failure as "Failed to convert JavaScript value `Number 5 ` into
 * rust type `String` on Inner.field on Outer.field"; callers want the field path and the types
 * (`BuiltinOptions.credentials.accessToken: expected a string, got a number`). Anything in
 * another shape keeps napi's words.
 */
function describeConversion(code, message) {
  const fields = [...message.matchAll(/ on ([A-Za-z_$][\w$]*)\.([\w$]+)/g)]
  // An `Either` field: "Value is none of these types `String`, `null`, on …".
  const oneOf = /^Value is none of these types (.*?),?\s+on /.exec(message)?.[1]
  const expected = oneOf ? `one of ${oneOf.replaceAll('`', '').toLowerCase()}` : EXPECTED[code]
  if (fields.length === 0 || expected === undefined) return message
  const outer = fields.at(-1)
  const path = [`${outer[1]}.${outer[2]}`, ...fields.slice(0, -1).reverse().map((m) => m[2])].join('.')
  const got = /(?:JavaScript|napi) value `?(\w+)/.exec(message)?.[1]?.toLowerCase()
  return got ? `${path}: expected ${expected}, got ${/^[aeiou]/.test(got) ? 'an' : 'a'} ${got}` : `${path}: expected ${expected}`
}

/** A `TypeError` with Node's code for an argument of the wrong type. */
function argTypeError(message) {
  const err = new TypeError(message)
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

/** The addon's error as the class callers expect: `TypeError` for a bad argument. */
function toJsError(err) {
  if (!err || typeof err !== 'object') return err
  const code = err.code
  if (isNapiTypeFailure(code)) return argTypeError(describeConversion(code, String(err.message)))
  if (!(err instanceof TypeError) && TYPE_ERROR_CODES.has(code)) {
    const typed = new TypeError(err.message)
    typed.code = code
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

/** A caller's value as an error message quotes it: escape sequences, control and invisible
 *  formatting characters removed, at most 40 characters (the addon's own errors do the same). */
function excerpt(value) {
  const text = String(value)
    .slice(0, 400)
    .replace(/\u001b(\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(\u0007|\u001b\\)?|.)?/g, '')
    .replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g, '')
  return text.length > 40 ? `${text.slice(0, 39)}…` : text
}

module.exports = { toJsError, fromFailure, callNative, argTypeError, excerpt }
