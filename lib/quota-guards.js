'use strict'
// Quota definition guards. Which kind a definition is, is the addon's rule (`quotaKind()`, the
// same conversion the tracker applies when a provider registers): each guard asks it, so for
// every definition exactly one guard says yes, and it is the kind the tracker resolves.

const binding = require('./binding.js')

const isObject = (q) => q != null && typeof q === 'object'

/** The addon's kind of `q`, or null for something it would refuse (wrong types included). */
function quotaKind(q) {
  if (!isObject(q)) return null
  try {
    return binding.quotaKind(q)
  } catch {
    return null
  }
}

const isKind = (kind) => (q) => quotaKind(q) === kind
const isQuotaDuration = isKind('duration')
const isQuotaAmount = isKind('amount')
const isQuotaPercentage = isKind('percentage')
const isQuotaMultiplier = isKind('multiplier')
const isQuotaPerModel = isKind('perModel')
const isQuotaBalance = isKind('balance')

module.exports = {
  quotaKind,
  isQuotaDuration,
  isQuotaAmount,
  isQuotaPercentage,
  isQuotaMultiplier,
  isQuotaPerModel,
  isQuotaBalance,
}
