// Types of lib/view.js: the one declaration the extension and tests use.
import type { SessionSummary } from '../index'
import type { Entry, Paint } from './format'

/** A window's recorded course: `usedRatio` at each `at` (epoch ms). */
export type Points = Array<{ at: number; usedRatio: number }>
export type Mode = 'compact' | 'all'

export interface ViewOptions {
  width: number
  now?: number
  mode?: Mode
  history?: ((providerId: string, windowId: string, modelId: string) => Points) | null
  paint?: Paint
  warnings?: string[]
  /** A broken pi auth.json, said instead of "no credentials". */
  authProblem?: string | null
  /** What this pi session used, per provider (lib/session.js). */
  session?: SessionSummary | null
}

/** The usage view as lines of at most `width` columns. */
export declare function renderView(entries: Entry[], opts: ViewOptions): string[]
/** What a refresh asked at `startedAt` did, for the view's title. */
export declare function refreshNote(entries: Entry[], opts: { startedAt: number; now?: number; holdMs?: number }): string
export declare function sparkline(points: Points, range: { from: number; to: number; cells: number }): string
export declare function wrapToWidth(text: string, width: number, maxLines?: number): string[]
export declare function visibleWidth(text: string): number
export declare function truncateToWidth(text: string, width: number): string
