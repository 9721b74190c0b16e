'use strict'
// Quota definition guards, in the precedence the addon uses to tell a definition's kind.

const isObject = (q) => q != null && typeof q === 'object'
const isQuotaPercentage = (q) => isObject(q) && q.percentageOnly === true
const isQuotaMultiplier = (q) =>
  isObject(q) && !isQuotaPercentage(q) && (q.multipliers !== undefined || q.baseAmount !== undefined)
const isQuotaPerModel = (q) =>
  isObject(q) && !isQuotaPercentage(q) && !isQuotaMultiplier(q) && q.perModel !== undefined
const isQuotaAmount = (q) =>
  isObject(q) && !isQuotaPercentage(q) && !isQuotaMultiplier(q) && !isQuotaPerModel(q) && q.amount !== undefined
const isQuotaDuration = (q) =>
  isObject(q) &&
  !isQuotaPercentage(q) &&
  !isQuotaMultiplier(q) &&
  !isQuotaPerModel(q) &&
  !isQuotaAmount(q) &&
  q.duration !== undefined
const isQuotaBalance = (q) =>
  isObject(q) && !isQuotaPercentage(q) && !isQuotaMultiplier(q) && !isQuotaPerModel(q) && q.balance === true

module.exports = { isQuotaDuration, isQuotaAmount, isQuotaPercentage, isQuotaMultiplier, isQuotaPerModel, isQuotaBalance }
