// Types of lib/session.js.
import type { SessionCost as SessionCostOf, SessionSummary, SessionWindow } from '../index'

export declare const SessionCost: typeof SessionCostOf
export type SessionCost = SessionCostOf
/** Opens the ledger of pi session `sessionId` (see `UsageTracker.openSession`). */
export declare function openSession(nativeTracker: unknown, sessionId: string, cachePath?: string | null): Promise<SessionCostOf>
/** The footer's session cell of a provider, when the session used any of it. */
export declare function sessionCell(summary: SessionSummary | undefined, providerId: string): { label: string; text: string } | undefined
/** The view's "this session" lines of a provider. */
export declare function sessionLines(summary: SessionSummary | undefined, providerId: string, now?: number): string[]
/** The session in `/usage-store json` (changed windows only). */
export declare function sessionJson(summary: SessionSummary | undefined): unknown
/** One change in its unit: "+$18.50", "+12%", "+3 credits". */
export declare function changeText(w: SessionWindow): string
