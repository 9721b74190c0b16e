/**
 * pi-usage-tracker — pi extension.
 *
 * Shows how much of your AI subscription quotas is left in pi's footer, and adds the
 * `/usage-store` command. Loaded by pi from this package's `"pi": { "extensions": [...] }`
 * entry (`pi install npm:pi-usage-tracker`, `pi install ./path`) or with `pi -e extension/index.ts`.
 *
 * Commands
 *   /usage-store           the usage view (lib/view.js): r refreshes, a shows all windows, Esc closes;
 *                          as text in print and RPC mode
 *   /usage-store refresh   fetch every provider now (never before a provider's retryAt), then the view
 *                          as text in the chat (the open view refreshes with r)
 *   /usage-store all       the view with every window of every model
 *   /usage-store table     table of every store entry (provider/model × window)
 *   /usage-store json      the store as JSON (same shape as `usage-store --json`), with `session`:
 *                          what this pi session used (lib/session.js)
 *
 *   /usage-store settings  the settings as a list, like pi's /settings: each change is checked and
 *                          saved by the addon and applies at once
 *
 * Settings: `<agentDir>/usage-tracker.json`, where agentDir is `$PI_CODING_AGENT_DIR` or
 * `~/.pi/agent`; optional, every key optional. What each key means, its default and its checks
 * are the addon's (`readSettings`, `saveSettings`): intervalMs, providers ({ "<id>": false }
 * turns one off), warnAt, criticalAt, lowBalance, style ("compact" | "full"), notify,
 * whenExhausted ("ask" | "switch" | "warn"), cachePath (null: no shared cache). A bad value is
 * named once and its default used; the file is read on every session start, so `/reload`
 * applies a hand edit.
 *
 * Credentials: the addon reads pi's auth.json itself, with the one mapping of pi's entries
 * (`credentialsFromPiAuth`), then the environment variable pi reads, then the tool's own files.
 * Before registering, and again after an auth error, the extension asks pi
 * (`ctx.modelRegistry.getApiKeyForProvider`) so pi refreshes an expired login in auth.json.
 * Providers without any credentials stay inactive and are not shown.
 */
import type { ExtensionAPI, ExtensionContext } from "@earendil-works/pi-coding-agent";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { openSettings } from "./settings-view.js";
import { withTimeout } from "./timeout.js";
import { openView, printView, type View, viewText } from "./usage-view.js";

// ---------------------------------------------------------------------------------------------
// Types: the package's own declarations (index.d.ts, and lib/*.d.ts beside each module).

type Addon = typeof import("../../index");
type Tracker = import("../../index").UsageTracker;
type UsageEntry = import("../../index").UsageStoreEntry;
type ThresholdEvent = import("../../index").ThresholdEvent;
type Format = typeof import("../../lib/format.js");
type Guard = typeof import("../../lib/guard.js");
type Terminal = typeof import("../../lib/terminal.js");

/** lib/session.js: the words of what this pi session used. */
type SessionCost = import("../../index").SessionCost;
type SessionWords = typeof import("../../lib/session.js");

// ---------------------------------------------------------------------------------------------
// Loading. Node's own require (not jiti) so the addon and its .node binary load once per
// process: pi re-evaluates this file on /reload, and a native module must not be loaded twice.

let addon: Addon | undefined;
let format: Format | undefined;
let view: View | undefined;
let guard: Guard | undefined;
let terminal: Terminal | undefined;
let sessionWords: SessionWords | undefined;
let loadError: string | undefined;
let loadTried = false;
/** Loads the addon and its helpers the first time a session or command needs them, not when
 *  pi evaluates this file: `pi --help` and print mode never pay for the native binary. */
function loadAddon(): void {
	if (loadTried) return;
	loadTried = true;
	try {
		loadParts();
	} catch (err) {
		loadError = errorMessage(err).split("\n")[0]; // drop the require stack
	}
}
function loadParts(): void {
	const load = createRequire(__filename); // jiti runs this file as CommonJS, like the package
	addon = load("../../index.js") as Addon;
	format = load("../../lib/format.js") as Format;
	const plainView = load("../../lib/view.js") as View;
	// A broken auth.json is said in the view instead of "no credentials" (the addon remembers
	// what its last read found, so this reads no file).
	view = {
		// with the running pi session's "this session" blocks
		renderView: (entries, opts) =>
			plainView.renderView(entries, { ...opts, authProblem: addon?.piAuthProblem()?.message, session: state().session?.cost?.summary() }),
		refreshNote: (entries, opts) => plainView.refreshNote(entries, opts),
	};
	sessionWords = load("../../lib/session.js") as SessionWords;
	guard = load("../../lib/guard.js") as Guard;
	terminal = load("../../lib/terminal.js") as Terminal;
}

// ---------------------------------------------------------------------------------------------
// Settings

/** Built-in provider ids, from the addon's one table. */
const builtinIds = (): string[] => (addon ? addon.BUILTIN_PROVIDERS.map((p) => p.id) : []);

type Settings = import("../../index").ExtensionSettings;

/** The settings file as the addon reads it; problems come back as messages, never as exceptions. */
function readSettings(): { settings: Settings; problems: string[] } {
	const read = addon!.readSettings();
	return { settings: read.options, problems: read.problems };
}

// ---------------------------------------------------------------------------------------------
// Per-process state. It lives on globalThis because pi re-evaluates this module on /reload and
// on session switches: the new copy must find (and stop) the tracker the old copy started.

interface Session {
	tracker: Tracker;
	ctx: ExtensionContext;
	settings: Settings;
	unsubscribe: Array<() => void>;
	/** when pi was last asked to refresh a login after an auth error, per provider */
	recheckedAt: Map<string, number>;
	/** the model pi uses now; its provider leads the footer */
	model?: { provider: string; id: string };
	/** what this pi session used (the ledger of its session id); set once opened */
	cost?: SessionCost;
	/** the last entries published, redrawn when the model changes */
	entries: UsageEntry[];
	stopped: boolean;
}
interface GlobalState {
	session?: Session;
	/** messages already shown once in this process */
	told: Set<string>;
}
const STATE_KEY = Symbol.for("pi-usage-tracker.extension");
function state(): GlobalState {
	const g = globalThis as unknown as Record<symbol, GlobalState | undefined>;
	return (g[STATE_KEY] ??= { told: new Set() });
}

const STATUS_KEY = "usage";
const STOP_TIMEOUT_MS = 1500; // pi's exit must never wait on a hung fetch
const CREDENTIAL_TIMEOUT_MS = 5000; // pi may refresh an expired token over the network
const RECHECK_AFTER_MS = 5 * 60_000; // at most one credential re-read per provider per 5 min

function errorMessage(err: unknown): string {
	return err instanceof Error ? err.message : String(err);
}

function notify(ctx: ExtensionContext, message: string, type: "info" | "warning" | "error" = "info"): void {
	try {
		if (ctx.hasUI) ctx.ui.notify(message, type);
	} catch {
		// a stale ctx (session already replaced) throws; nothing useful left to do
	}
}

function notifyOnce(ctx: ExtensionContext, message: string, type: "info" | "warning" | "error"): void {
	const told = state().told;
	if (told.has(message)) return;
	told.add(message);
	notify(ctx, message, type);
}

function setStatus(ctx: ExtensionContext, text: string | undefined): void {
	try {
		ctx.ui.setStatus(STATUS_KEY, text);
	} catch {
		// stale ctx
	}
}

// ---------------------------------------------------------------------------------------------
// Credentials: the addon reads auth.json; pi only has to keep it fresh.

/** Lets pi refresh an expired login for `id` (it rewrites auth.json); the result is not used. */
async function askPiToRefresh(ctx: ExtensionContext, id: string): Promise<void> {
	const registry = ctx.modelRegistry as { getApiKeyForProvider?: (id: string) => Promise<unknown> } | undefined;
	if (!registry?.getApiKeyForProvider) return;
	await withTimeout(Promise.resolve(registry.getApiKeyForProvider(id)), CREDENTIAL_TIMEOUT_MS).catch(() => undefined);
}

async function registerBuiltin(session: Session, id: string): Promise<void> {
	await askPiToRefresh(session.ctx, id);
	if (session.stopped) return;
	try {
		session.tracker.registerBuiltinProvider(id);
	} catch (err) {
		// one provider failing to register must not keep the others from being tracked
		notifyOnce(session.ctx, `usage-tracker: cannot track ${id}: ${errorMessage(err)}`, "warning");
	}
}

/** After a 401, pi (this one or another) may hold a newer login: let it refresh, then fetch. */
async function recheckCredentials(session: Session, entries: UsageEntry[]): Promise<void> {
	const now = Date.now();
	const failing = new Set(entries.filter((e) => e.active && e.error?.kind === "auth").map((e) => e.providerId));
	for (const id of failing) {
		if (now - (session.recheckedAt.get(id) ?? 0) < RECHECK_AFTER_MS) continue;
		session.recheckedAt.set(id, now);
		await askPiToRefresh(session.ctx, id);
		if (session.stopped) return;
		void session.tracker.refresh(id).catch(() => undefined);
	}
}

// ---------------------------------------------------------------------------------------------
// Footer

/** One status line, coloured per segment. Built once per update: pi's footer render only
 *  reads the stored string, so drawing never calls into the addon. */
function modelOf(model: { provider?: string; id?: string } | undefined): Session["model"] {
	return model?.provider && model.id ? { provider: model.provider, id: model.id } : undefined;
}

/** The current model's provider leads, with the windows the tracker says govern that model. */
function leadOf(session: Session): { providerId: string; modelId: string; windowIds: string[] } | undefined {
	const model = session.model;
	if (!model) return undefined;
	const check = session.tracker.checkQuota(model.provider, model.id);
	return { providerId: model.provider, modelId: model.id, windowIds: check.windowIds };
}

/** pi's terminal width: the footer line is this wide. */
const screenWidth = (): number => (terminal ? terminal.terminalWidth() : 80);
/** pi draws a message in the chat (notify) with one column of padding on each side
 *  (0.73 and 1.x alike), so text there is two columns narrower than the terminal. */
const chatWidth = (): number => Math.max(20, screenWidth() - 2);

function statusText(session: Session, entries: UsageEntry[]): string | undefined {
	if (!format) return undefined;
	const theme = session.ctx.ui.theme;
	// A broken auth.json leads, in one short line: no login of the file is read until it is fixed.
	const broken = addon?.piAuthProblem();
	const said = broken ? `usage: ${broken.short}` : undefined;
	const lead = said ? theme.fg("error", said) : undefined;
	// Every provider with data gets a cell, the most urgent first, fitted to the line by the
	// addon's order (mostPressing) rather than cut by pi.
	const room = screenWidth() - (said && terminal ? terminal.visibleWidth(said) + 2 : 0);
	const lead0 = leadOf(session);
	const fit = (width: number) =>
		format!.footerParts(entries, {
			style: session.settings.style,
			lead: lead0,
			pressing: session.tracker.mostPressing(),
			width,
		});
	// What this session used of the lead provider, in one cell after it: only where every
	// provider still gets its cell beside it (the providers' values come first).
	const cell =
		session.settings.sessionCost && lead0 && sessionWords && terminal
			? sessionWords.sessionCell(session.cost?.summary(), lead0.providerId)
			: undefined;
	let parts = cell ? fit(room - terminal!.visibleWidth(`${cell.label} ${cell.text}`) - 3) : [];
	const at = parts.findIndex((p) => p.providerId === lead0?.providerId);
	const cut = parts.some((p) => p.label === "…"); // the fitting left providers out
	if (cell && at >= 0 && !cut) {
		parts.splice(at + 1, 0, { providerId: "session", label: cell.label, segments: [{ text: cell.text, level: "muted", kind: "value" }] });
	} else {
		parts = fit(room);
	}
	if (parts.length === 0) return lead;
	const text = format.renderFooterParts(parts, (color, text) => theme.fg(color as Parameters<typeof theme.fg>[0], text));
	return lead ? `${lead}  ${text}` : text;
}

function show(session: Session, entries: UsageEntry[]): void {
	if (session.stopped) return;
	session.entries = entries;
	try {
		setStatus(session.ctx, statusText(session, entries));
	} catch (err) {
		notifyOnce(session.ctx, `usage-tracker: cannot draw the footer: ${errorMessage(err)}`, "error");
	}
}

function describeWindow(e: ThresholdEvent): string {
	const label = format ? format.providerLabel(e.providerId) : e.providerId;
	return `${label}${e.modelId === "default" ? "" : ` ${e.modelId}`} ${e.windowId}`;
}

function onThreshold(session: Session, e: ThresholdEvent): void {
	if (session.stopped || !session.settings.notify) return;
	const left = `${Math.round(Math.max(0, e.remainingRatio) * 100)}% left`;
	const resets = e.resetsAt && format ? `, resets in ${format.formatDuration(e.resetsAt - Date.now())}` : "";
	const what = describeWindow(e);
	if (e.kind === "low") notify(session.ctx, `Usage: ${what} is running low, ${left}${resets}`, "warning");
	else if (e.kind === "exhausted") notify(session.ctx, `Usage: ${what} is used up${resets}`, "warning");
	else if (e.kind === "recovered") notify(session.ctx, `Usage: ${what} recovered, ${left}`, "info");
}

// ---------------------------------------------------------------------------------------------
// The current model: its quota before a prompt, and what its responses say

/** Before a prompt reaches a model whose quota is used up: lib/guard.js decides (say so, then
 *  ask, switch or warn as configured); pi's dialog, model switch and notifications carry it out. */
async function guardPrompt(session: Session, pi: ExtensionAPI, ctx: ExtensionContext): Promise<void> {
	const model = session.model;
	if (!model || !guard) return;
	const registry = ctx.modelRegistry as { getAvailable?: () => Array<{ provider: string; id: string }> } | undefined;
	const options = { whenExhausted: session.settings.whenExhausted, hasUI: ctx.hasUI };
	await guard.guardExhausted(session.tracker, model, registry?.getAvailable?.() ?? [], options, {
		confirm: (title, text) => ctx.ui.confirm(title, text),
		switchTo: async (provider, id) => {
			const found = ctx.modelRegistry.find(provider, id);
			return found ? await pi.setModel(found) : false;
		},
		notify: (message, type) => notify(ctx, message, type),
	});
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

async function stopSession(): Promise<void> {
	const g = state();
	const session = g.session;
	if (!session) return;
	g.session = undefined;
	session.stopped = true;
	for (const off of session.unsubscribe) {
		try {
			off();
		} catch {
			// already gone
		}
	}
	await withTimeout(session.tracker.stop(), STOP_TIMEOUT_MS).catch(() => undefined);
	setStatus(session.ctx, undefined);
}

async function startSession(ctx: ExtensionContext): Promise<void> {
	await stopSession(); // whatever an earlier load of this file left running
	if (!ctx.hasUI) return; // print / json mode: no footer to draw
	loadAddon();
	if (!addon || !format) {
		notifyOnce(ctx, `usage-tracker: the native addon failed to load, usage is not tracked (${loadError ?? "unknown error"})`, "error");
		return;
	}
	const { settings, problems } = readSettings();
	for (const p of problems) notifyOnce(ctx, `usage-tracker: ${p}`, "warning");

	const session: Session = {
		tracker: new addon.UsageTracker(settings.tracker),
		ctx,
		settings,
		unsubscribe: [],
		recheckedAt: new Map(),
		model: modelOf(ctx.model),
		entries: [],
		stopped: false,
	};
	state().session = session;

	// A resized terminal gets a footer fitted to its new width at once.
	const onResize = () => show(session, session.entries);
	process.stdout.on("resize", onResize);
	session.unsubscribe.push(
		() => process.stdout.off("resize", onResize),
		session.tracker.onUpdate((entries) => {
			session.cost?.note(); // a change no response of this session brought: a poll
			show(session, entries);
			void recheckCredentials(session, entries).catch(() => undefined);
		}),
		session.tracker.onThreshold((e) => onThreshold(session, e)),
	);

	// Tokens are read in parallel and without holding up pi's startup; so is this session's
	// ledger (a /reload or a resumed session continues its count, a new session starts one).
	const opening = session.tracker
		.openSession(ctx.sessionManager.getSessionId())
		.then((cost) => {
			session.cost = cost;
		})
		.catch((err) => notifyOnce(ctx, `usage-tracker: this session's use is not counted: ${errorMessage(err)}`, "warning"));
	void (async () => {
		try {
			await Promise.all(builtinIds().filter((id) => settings.providers[id] !== false).map((id) => registerBuiltin(session, id)));
			await opening;
			if (session.stopped) return;
			session.tracker.start(ctx);
			show(session, session.tracker.entries()); // cached values, if any, until the first cycle
		} catch (err) {
			notifyOnce(ctx, `usage-tracker: could not start: ${errorMessage(err)}`, "error");
		}
	})();
}

/** Applies a saved settings file at once: the running tracker is replaced by one made from it
 *  (the shared cache keeps this from asking the services again). One restart at a time. */
let applying: Promise<void> = Promise.resolve();
function applySettings(): Promise<void> {
	applying = applying.then(async () => {
		const session = state().session;
		if (!session || session.stopped) return;
		await startSession(session.ctx);
		const next = state().session;
		if (next && session.model) next.model = session.model; // the model pi uses now leads, as before
	});
	return applying.catch(() => undefined);
}

const SUBCOMMANDS = [
	{ value: "settings", label: "settings", description: "change the settings (providers, levels, footer style, …)" },
	{ value: "refresh", label: "refresh", description: "fetch every provider now, then print the view" },
	{ value: "all", label: "all", description: "the view with every window of every model" },
	{ value: "table", label: "table", description: "every store entry as a table" },
	{ value: "json", label: "json", description: "the store as JSON" },
];
const ARGS = ["", "settings", "refresh", "all", "table", "json"];

export default function usageTrackerExtension(pi: ExtensionAPI): void {
	pi.on("session_start", async (_event, ctx) => {
		try {
			await startSession(ctx);
		} catch (err) {
			notifyOnce(ctx, `usage-tracker: could not start: ${errorMessage(err)}`, "error");
		}
	});

	// Every model response carries its quota in headers: one call hands them to the tracker,
	// which merges, publishes and shares them (no work here beyond the call).
	pi.on("after_provider_response", (event, ctx) => {
		const session = state().session;
		const provider = ctx.model?.provider;
		if (!session || session.stopped || !provider) return;
		try {
			session.tracker.observeResponse(provider, event.status, event.headers as Record<string, string>);
			// what moved on this provider's meters since the last look is this model's use
			const modelId = ctx.model?.id;
			if (modelId) session.cost?.note({ providerId: provider, modelId });
		} catch {
			// headers are advisory; never disturb pi's response handling
		}
	});

	pi.on("model_select", (event) => {
		const session = state().session;
		if (!session || session.stopped) return;
		session.model = modelOf(event.model);
		show(session, session.entries);
	});

	pi.on("before_agent_start", async (_event, ctx) => {
		const session = state().session;
		if (!session || session.stopped) return;
		try {
			await guardPrompt(session, pi, ctx);
		} catch (err) {
			notifyOnce(ctx, `usage-tracker: could not check the model's quota: ${errorMessage(err)}`, "warning");
		}
	});

	pi.on("session_shutdown", async () => {
		try {
			await stopSession();
		} catch {
			// never block pi's exit
		}
	});

	pi.registerCommand("usage-store", {
		description: "Show AI subscription usage (args: settings, refresh, all, table, json)",
		getArgumentCompletions: (prefix) => {
			const items = SUBCOMMANDS.filter((s) => s.value.startsWith(prefix.trim()));
			return items.length > 0 ? items : null;
		},
		handler: async (args, ctx) => {
			try {
				const arg = args.trim();
				if (!ARGS.includes(arg)) {
					notify(ctx, "Usage: /usage-store [settings|refresh|all|table|json]", "warning");
					return;
				}
				loadAddon();
				if (!addon || !format || !view) {
					notify(ctx, `usage-tracker: the native addon failed to load (${loadError ?? "unknown error"})`, "warning");
					return;
				}
				if (arg === "settings") {
					const uiMode = (ctx as { mode?: string }).mode;
					const tui = ctx.hasUI && (uiMode === undefined || uiMode === "tui");
					const shown = tui
						? await openSettings(
								addon,
								ctx,
								() => void applySettings(),
								(message) => notify(ctx, `usage-tracker: ${message}`, "warning"),
							)
						: false;
					if (!shown) notify(ctx, `usage-tracker: the settings list needs pi's terminal; the file is ${addon.readSettings().path}`, "warning");
					return;
				}
				const session = state().session;
				if (!session) {
					if (ctx.hasUI) {
						notify(ctx, "usage-tracker: the tracker is not running", "warning");
						return;
					}
					// Print and JSON mode start no tracker: fetch once, like the usage-store CLI.
					const { settings } = readSettings();
					const ids = builtinIds().filter((id) => settings.providers[id] !== false);
					await printView(new addon.UsageTracker(settings.tracker), ids, view, format, arg, screenWidth());
					return;
				}
				if (arg === "refresh") await session.tracker.refresh();
				const entries = session.tracker.entries();
				if (arg === "json" || arg === "table") {
					// notify renders multi-line text in the chat (not sent to the model)
					// pi wraps chat text itself: the table fits its width instead
					const json = () => ({ ...(format!.toJson(entries) as object), session: sessionWords?.sessionJson(session.cost?.summary()) ?? null });
					const text = arg === "json" ? JSON.stringify(json(), null, 2) : format.renderTable(entries, { color: false, width: chatWidth() });
					notify(ctx, text, "info");
					return;
				}
				const mode = arg === "all" ? "all" : "compact";
				// RPC has no terminal to draw in (1.x says so in ctx.mode; 0.73's custom() returns at once);
				// a refresh is a one-shot command whose answer goes to the chat.
				const uiMode = (ctx as { mode?: string }).mode;
				const interactive = arg !== "refresh" && (uiMode === undefined || uiMode === "tui");
				const shown = interactive ? await openView(session.tracker, ctx, view, mode) : false;
				if (!shown) notify(ctx, await viewText(view, session.tracker, entries, mode, chatWidth()), "info");
			} catch (err) {
				notify(ctx, `usage-tracker: ${errorMessage(err)}`, "error");
			}
		},
	});
}
