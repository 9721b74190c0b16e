// Types of lib/terminal.js.
export declare function terminalWidth(stream?: { isTTY?: boolean; columns?: number }, env?: Record<string, string | undefined>): number
export declare function visibleWidth(text: string): number
export declare function truncateToWidth(text: string, width: number): string
export declare const ANSI_RE: RegExp
