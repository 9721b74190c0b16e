/**
 * `/usage-store settings`: the extension's settings as pi's own settings list (SettingsList, the
 * component pi's /settings uses). Enter or Space moves a row to its next value; typing filters
 * the rows; Esc closes. Each change goes to the addon (`saveSettings`), which checks it by the
 * same rules it reads the file with and replaces the file atomically; a refused change is said
 * and the row keeps its value. Used by extension/index.ts, which applies each saved change.
 */
import type { ExtensionContext } from "@earendil-works/pi-coding-agent";
// pi resolves these names for extensions in every version (1.x aliases them to its own packages).
import { getSettingsListTheme } from "@mariozechner/pi-coding-agent";
import { type SettingItem, SettingsList, truncateToWidth } from "@mariozechner/pi-tui";

type Addon = typeof import("../../index");
type Settings = import("../../index").ExtensionSettings;

/** One row: the values offered (what the row shows, what is saved) and how a value is saved. */
interface Row {
	id: string;
	label: string;
	description: string;
	choices: Array<[shown: string, value: unknown]>;
	current: (s: Settings) => unknown;
	/** A value the choices do not hold (a hand edit), as the row shows it. */
	show: (value: unknown) => string;
	change: (value: unknown) => Record<string, unknown>;
}

const percent = (v: unknown) => `${Math.round(Number(v) * 1000) / 10}% left`;
const money = (v: unknown) => `below ${Number(v)}`; // in each balance's own currency
const duration = (v: unknown) => {
	const s = Number(v) / 1000;
	return s < 60 ? `${s} s` : `${Math.round((s / 60) * 10) / 10} min`;
};
const word = (v: unknown) => String(v);
const onOff = (v: unknown) => (v ? "on" : "off");

const levels = (values: number[]) => values.map((r): [string, unknown] => [percent(r), r]);

function rows(addon: Addon): Row[] {
	const general: Row[] = [
		{
			id: "warnAt",
			label: "Warn level",
			description: "A window turns yellow when less than this is left (at or above the critical level).",
			choices: levels([0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6]),
			current: (s) => s.warnAt,
			show: percent,
			change: (v) => ({ warnAt: v }),
		},
		{
			id: "criticalAt",
			label: "Critical level",
			description: "A window turns red, and a notification says it runs low, when less than this is left.",
			choices: levels([0.02, 0.05, 0.1, 0.15, 0.2, 0.25]),
			current: (s) => s.criticalAt,
			show: percent,
			change: (v) => ({ criticalAt: v }),
		},
		{
			id: "lowBalance",
			label: "Low balance",
			description: "A prepaid balance below this much money, in its own currency, is red (below twice it, yellow).",
			choices: [1, 2, 5, 10, 20, 50].map((n): [string, unknown] => [money(n), n]),
			current: (s) => s.lowBalance,
			show: money,
			change: (v) => ({ lowBalance: v }),
		},
		{
			id: "style",
			label: "Footer style",
			description: "compact: each provider's main windows; full: every window of every model.",
			choices: [
				["compact", "compact"],
				["full", "full"],
			],
			current: (s) => s.style,
			show: word,
			change: (v) => ({ style: v }),
		},
		{
			id: "whenExhausted",
			label: "When a quota is used up",
			description: "At a prompt to a model whose quota is used up: ask to switch to the best model with room, switch at once, or only warn.",
			choices: [
				["ask", "ask"],
				["switch", "switch"],
				["warn", "warn"],
			],
			current: (s) => s.whenExhausted,
			show: word,
			change: (v) => ({ whenExhausted: v }),
		},
		{
			id: "notify",
			label: "Notifications",
			description: "Say when a window runs low, runs out or recovers.",
			choices: [
				["on", true],
				["off", false],
			],
			current: (s) => s.notify,
			show: onOff,
			change: (v) => ({ notify: v }),
		},
		{
			id: "sessionCost",
			label: "This session in the footer",
			description: "What this pi session used of the lead provider's meter, after its values.",
			choices: [
				["on", true],
				["off", false],
			],
			current: (s) => s.sessionCost,
			show: onOff,
			change: (v) => ({ sessionCost: v }),
		},
		{
			id: "intervalMs",
			label: "Poll interval",
			description: "How often every provider is asked for its usage.",
			choices: [30_000, 60_000, 120_000, 300_000, 600_000].map((ms): [string, unknown] => [duration(ms), ms]),
			current: (s) => s.intervalMs,
			show: duration,
			change: (v) => ({ intervalMs: v }),
		},
	];
	const providers = addon.BUILTIN_PROVIDERS.map(
		(p): Row => ({
			id: `provider:${p.id}`,
			label: p.label === p.id ? p.label : `${p.label} (${p.id})`,
			description: `Track ${p.label}'s usage (shown only where pi has a login or key for ${p.id}).`,
			choices: [
				["on", true],
				["off", false],
			],
			current: (s) => s.providers[p.id] !== false,
			show: onOff,
			change: (v) => ({ providers: { [p.id]: v } }),
		}),
	);
	return [...general, ...providers];
}

const shownValue = (row: Row, value: unknown) => row.choices.find(([, v]) => v === value)?.[0] ?? row.show(value);

/**
 * Opens the list until Esc; `saved` runs after each change the addon accepted, with the file as
 * now read. Resolves false at once when this pi has no terminal to draw in.
 */
export async function openSettings(
	addon: Addon,
	ctx: ExtensionContext,
	saved: (settings: Settings) => void,
	refused: (message: string) => void,
): Promise<boolean> {
	let drawn = false;
	await ctx.ui.custom<void>((tui, theme, _keybindings, done) => {
		drawn = true;
		const read = addon.readSettings();
		let settings = read.options;
		const table = rows(addon);
		const items: SettingItem[] = table.map((row) => ({
			id: row.id,
			label: row.label,
			description: row.description,
			currentValue: shownValue(row, row.current(settings)),
			values: row.choices.map(([shown]) => shown),
		}));
		const list = new SettingsList(
			items,
			Math.min(items.length + 2, 15),
			getSettingsListTheme(),
			(id, shown) => {
				const row = table.find((r) => r.id === id);
				const choice = row?.choices.find(([s]) => s === shown);
				if (!row || !choice) return;
				try {
					settings = addon.saveSettings(row.change(choice[1])).options;
					saved(settings);
				} catch (err) {
					list.updateValue(id, shownValue(row, row.current(settings)));
					refused(err instanceof Error ? err.message : String(err));
				}
				tui.requestRender();
			},
			() => done(undefined),
			{ enableSearch: true },
		);
		const title = `${theme.fg("accent", theme.bold("Usage tracker settings"))}${theme.fg("dim", ` · ${read.path}`)}`;
		return {
			render: (width: number) => [truncateToWidth(title, width), "", ...list.render(width)],
			invalidate: () => list.invalidate(),
			handleInput: (data: string) => {
				list.handleInput(data);
				tui.requestRender();
			},
		};
	});
	return drawn;
}
