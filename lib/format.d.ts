// Types of lib/format.js: the one declaration the extension, the CLI's readers and tests use.
import type { EntryError, PressingWindow, ResolvedUsageWindow, UsageStoreEntry } from '../index'

/** An entry as `tracker.entries()` returns it. */
export type Entry = UsageStoreEntry
/** One of an entry's windows. */
export type Window = ResolvedUsageWindow
/** The window's level, as the tracker computed it. */
export type Level = NonNullable<ResolvedUsageWindow['level']>
/** A semantic colour (pi's theme names them the same). */
export type Color = 'success' | 'warning' | 'error' | 'dim' | 'muted' | 'text' | 'accent'
export type Paint = (color: string, text: string) => string

export interface FooterSegment {
  text: string
  level: string
  kind?: 'value' | 'reset' | 'error'
}
export interface FooterPart {
  providerId: string
  label: string
  segments: FooterSegment[]
}
export interface FooterOptions {
  now?: number
  /** Only these providers, in this order. */
  providers?: string[]
  style?: 'compact' | 'full'
  /** The model in use: its provider comes first, its windows lead. */
  lead?: { providerId: string; modelId?: string; windowIds?: string[] }
  /** `tracker.mostPressing()`: the footer by urgency, fitted to `width`. */
  pressing?: PressingWindow[]
  width?: number
}
export interface TableOptions {
  now?: number
  color?: boolean
  width?: number
}
export type PaceForm = 'full' | 'short' | 'runout'

export declare const BUILTIN_LABELS: Readonly<Record<string, string>>
export declare const LEVEL_COLORS: Readonly<Record<Level | 'stale', Color>>
export declare function formatDuration(ms: number): string
/** What a provider id is called on screen, from the addon's provider table. */
export declare function providerLabel(providerId: string): string
export declare function footerParts(entries: Entry[], opts?: FooterOptions): FooterPart[]
export declare function formatFooterLine(entries: Entry[], opts?: FooterOptions): string
export declare function renderFooterParts(parts: FooterPart[], paint?: Paint): string
export declare function renderTable(entries: Entry[], opts?: TableOptions): string
export declare function toJson(entries: Entry[], opts?: { now?: number }): unknown
export declare function formatPercent(ratio: number): string
export declare function formatAmount(w: Window): string
export declare function formatMoney(value: number, unit?: string | null): string
export declare function formatPace(w: Window, now?: number, form?: PaceForm): string
export declare function formatResetAt(resetsAt: number | null | undefined, now?: number): string
export declare function formatAgo(at: number, now?: number): string
export declare function errorText(error: EntryError, now?: number, opts?: { inactive?: boolean; retries?: boolean }): string
export declare function windowLevel(w: Window): Level
export declare const paintAnsi: Paint
/** One line per provider whose traffic a meter pays for. */
export declare function billingNotes(entries: Entry[]): string[]
export declare function isAmountWindow(w: Window): boolean
export declare function isCurrency(unit: unknown): unit is string
export declare function sortEntries<E extends Pick<Entry, 'providerId' | 'modelId'>>(entries: E[]): E[]
export declare function pickWindows(group: Entry[], style: 'compact' | 'full'): Array<{ e: Entry; w: Window }>
/** Per-model views of a shared pool (`poolView`) folded: what is shown, and the 0× models per provider. */
export declare function foldMultiplierViews(entries: Entry[]): { shown: Entry[]; included: Map<string, string[]> }
