// Types of lib/guard.js.
import type { UsageTracker } from '../index'

export interface ModelRef {
  provider: string
  id: string
}
export interface GuardOptions {
  whenExhausted: 'ask' | 'switch' | 'warn'
  hasUI: boolean
}
/** What only pi can do, handed in so the extension and the tests run the same code. */
export interface GuardIO {
  confirm(title: string, text: string): Promise<boolean>
  switchTo(provider: string, id: string): Promise<boolean>
  notify(message: string, type: 'info' | 'warning'): void
}
export type GuardOutcome = 'proceed' | 'no-alternative' | 'warned' | 'stayed' | 'switched' | 'switch-failed'

export declare function bestAlternative(
  tracker: UsageTracker,
  current: ModelRef,
  available: ModelRef[],
): (ModelRef & { why: string }) | undefined
export declare function guardExhausted(
  tracker: UsageTracker,
  model: ModelRef,
  available: ModelRef[],
  options: GuardOptions,
  io: GuardIO,
): Promise<GuardOutcome>
