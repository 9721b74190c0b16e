/**
 * The `/usage-store` view in pi: lib/view.js's lines as a pi component (`ctx.ui.custom`), and
 * as text where pi has no terminal to draw in (RPC, print mode). Used by extension/index.ts.
 */
import type { ExtensionContext } from "@earendil-works/pi-coding-agent";
// pi resolves this name for extensions in every version (1.x aliases it to its own package).
import { truncateToWidth, visibleWidth } from "@mariozechner/pi-tui";
import { withTimeout } from "./timeout.js";

type Tracker = import("../../index").UsageTracker;
type UsageEntry = import("../../index").UsageStoreEntry;
type Points = import("../../lib/view.js").Points;
type Mode = import("../../lib/view.js").Mode;

/** lib/view.js, as its own declaration (lib/view.d.ts) says. */
export type View = Pick<typeof import("../../lib/view.js"), "renderView" | "refreshNote">;

/** What printView needs of lib/format.js. */
type Format = Pick<typeof import("../../lib/format.js"), "renderTable" | "toJson">;

type Theme = ExtensionContext["ui"]["theme"];
const THEME_COLORS = new Set(["accent", "success", "warning", "error", "muted", "dim", "text"]);

function errorMessage(err: unknown): string {
	return err instanceof Error ? err.message : String(err);
}

/** Each window's recorded course, read at most once per reader (the addon reads a file per
 *  account, off the JS thread); a new reader after each change of the data. A course not yet
 *  read shows what `shown` held (the previous reader's, or nothing) until it arrives, then
 *  `loaded()` runs (a redraw). */
type HistoryReader = ((providerId: string, windowId: string, modelId: string) => Points) & { read: Map<string, Points> };
function historyReader(tracker: Tracker, loaded: () => void = () => {}, shown: Map<string, Points> = new Map(), read: Map<string, Points> = new Map()): HistoryReader {
	const reader = (providerId: string, windowId: string, modelId: string) => {
		const key = `${providerId}/${modelId}#${windowId}`;
		const points = read.get(key);
		if (points) return points;
		read.set(key, shown.get(key) ?? []);
		tracker
			.history(providerId, windowId, { modelId })
			.then((course) => {
				read.set(key, course);
				loaded();
			})
			.catch(() => {}); // unregistered meanwhile
		return read.get(key) ?? [];
	};
	return Object.assign(reader, { read });
}

/** Every shown window's recorded course, read before a render (keys as historyReader's). */
async function readCourses(tracker: Tracker, entries: UsageEntry[]): Promise<Map<string, Points>> {
	const read = new Map<string, Points>();
	for (const e of entries) {
		for (const w of e.windows) {
			const course = await tracker.history(e.providerId, w.id, { modelId: e.modelId }).catch(() => []);
			read.set(`${e.providerId}/${e.modelId}#${w.id}`, course);
		}
	}
	return read;
}

/** The view as plain text, `width` columns wide (the terminal's for stdout, pi's chat width
 *  for a message in the chat); every shown course is read before the render. */
export async function viewText(view: View, tracker: Tracker, entries: UsageEntry[], mode: Mode, width: number): Promise<string> {
	const courses = await readCourses(tracker, entries);
	const history = historyReader(tracker, undefined, courses, courses);
	return view.renderView(entries, { width, mode, history, warnings: tracker.warnings() }).join("\n");
}

/** Rows pi keeps for itself under a component (footer, status line). */
const PI_ROWS = 6;

/**
 * The view as a pi component until Esc (or q): r refreshes (`tracker.refresh()` never asks a
 * provider before its retryAt), a switches between the main and all windows, ↑/↓ (and
 * PgUp/PgDn where pi passes them on; 1.x keeps them) scroll a view taller than the terminal
 * under a title that stays, and each update of the tracker redraws it.
 * Resolves false at once when this pi has no terminal to draw in (0.73's RPC mode returns from
 * `custom()` without building the component).
 */
export async function openView(tracker: Tracker, ctx: ExtensionContext, view: View, initial: Mode): Promise<boolean> {
	let drawn = false;
	// The first frame has its courses; later ones read theirs as they change.
	const courses = await readCourses(tracker, tracker.entries());
	await ctx.ui.custom<void>((tui, theme: Theme, keybindings, done) => {
		drawn = true;
		let mode = initial;
		let entries = tracker.entries();
		let history: HistoryReader;
		let status = "";
		let refreshing = false;
		let closed = false;
		let offset = 0; // first body row shown
		let bodyRows = 0; // body rows the last render had
		let page = 10; // body rows that fit
		let cached: { width: number; height: number; lines: string[] } | undefined;
		const paint = (color: string, text: string) => theme.fg((THEME_COLORS.has(color) ? color : "text") as Parameters<Theme["fg"]>[0], text);
		const redraw = () => {
			cached = undefined;
			if (!closed) tui.requestRender();
		};
		const reload = () => {
			entries = tracker.entries();
			history = historyReader(tracker, redraw, history.read);
			redraw();
		};
		history = historyReader(tracker, redraw, courses, courses);
		const unsubscribe = tracker.onUpdate(reload);
		const close = () => {
			closed = true;
			unsubscribe();
			done(undefined);
		};
		return {
			render(width: number): string[] {
				const height = tui.terminal?.rows ?? 40;
				if (cached && cached.width === width && cached.height === height) return cached.lines;
				const body = view.renderView(entries, { width, mode, history, paint, warnings: tracker.warnings() });
				// The title and the keys stay on top; a body taller than the terminal scrolls.
				page = Math.max(5, height - PI_ROWS - 2);
				bodyRows = body.length;
				offset = Math.max(0, Math.min(offset, body.length - page));
				const scrolls = body.length > page;
				const shown = scrolls ? body.slice(offset, offset + page) : body;
				const keysLong = `r refresh · a ${mode === "all" ? "main windows" : "all windows"}${scrolls ? " · ↑↓ scroll" : ""} · esc close`;
				const keysShort = `r · a ${mode === "all" ? "main" : "all"}${scrolls ? " · ↑↓" : ""} · esc`;
				// What `r` did leads the title; the keys follow, in short on a narrow terminal, when
				// the line has room for them.
				const said = status ? ` · ${status}` : "";
				const keys = visibleWidth(`Usage · ${keysLong}`) <= width ? keysLong : keysShort;
				const withKeys = `Usage${said} · ${keys}`;
				const title = visibleWidth(withKeys) <= width || !status ? `${paint("accent", "Usage")}${paint("dim", withKeys.slice(5))}` : `${paint("accent", "Usage")}${paint("warning", said)}`;
				const more = body.length - offset - shown.length;
				const lines = [title, ...shown];
				if (scrolls) {
					const rows = (n: number) => `${n} row${n === 1 ? "" : "s"}`;
					const where = [offset > 0 ? `↑ ${rows(offset)} above` : "", more > 0 ? `↓ ${rows(more)} more` : ""];
					lines.push(paint("dim", where.filter(Boolean).join(" · ")));
				}
				// The view keeps within the width by its own count; pi's measure has the last word.
				cached = { width, height, lines: lines.map((line) => truncateToWidth(line, width)) };
				return cached.lines;
			},
			handleInput(data: string): void {
				if (keybindings.matches(data, "tui.select.cancel") || data === "q") return close();
				if (data === "a") {
					mode = mode === "all" ? "compact" : "all";
					offset = 0;
					return redraw();
				}
				const step = keybindings.matches(data, "tui.select.up")
					? -1
					: keybindings.matches(data, "tui.select.down")
						? 1
						: keybindings.matches(data, "tui.select.pageUp")
							? -page
							: keybindings.matches(data, "tui.select.pageDown")
								? page
								: 0;
				if (step !== 0) {
					const next = Math.max(0, Math.min(offset + step, bodyRows - page));
					if (next !== offset) {
						offset = next;
						redraw();
					}
					return;
				}
				if (data === "r" && !refreshing) {
					refreshing = true;
					status = "refreshing…";
					redraw();
					const startedAt = Date.now();
					tracker
						.refresh()
						.then(
							() => {
								// what the refresh did, or why it did not ask the services again
								status = view.refreshNote(tracker.entries(), { startedAt, holdMs: tracker.refreshHoldMs() });
							},
							(err: unknown) => {
								status = `refresh failed: ${errorMessage(err)}`;
							},
						)
						.finally(() => {
							refreshing = false;
							reload();
						});
				}
			},
			invalidate(): void {
				cached = undefined;
			},
		};
	});
	return drawn;
}

/**
 * Print and JSON mode start no tracker: `tracker` (new, with the settings' options) fetches the
 * `ids` once, the text goes to stdout (pi hands it to stderr while it owns stdout), then it stops.
 */
export async function printView(tracker: Tracker, ids: string[], view: View, format: Format, arg: string, width: number): Promise<void> {
	try {
		for (const id of ids) {
			try {
				tracker.registerBuiltinProvider(id);
			} catch {
				// a provider that cannot register is left out, as in the interactive session
			}
		}
		tracker.start();
		await tracker.refresh();
		const entries = tracker.entries();
		let text: string;
		if (arg === "json") text = JSON.stringify(format.toJson(entries), null, 2);
		else if (arg === "table") text = format.renderTable(entries, { color: false, width });
		else text = await viewText(view, tracker, entries, arg === "all" ? "all" : "compact", width);
		process.stdout.write(`${text}\n`);
	} finally {
		// pi's exit must never wait on a hung fetch
		await withTimeout(tracker.stop().catch(() => undefined), 1500);
	}
}
