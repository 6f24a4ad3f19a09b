// What the status bar item says, and the statistics as a readable page. Pure.

export type Phase = "starting" | "loading" | "ready" | "error" | "stopped";

export interface StatusState {
  phase: Phase;
  /** Suggestions on (the global setting). */
  enabled: boolean;
  /** Suggestions on for the active editor's language (undefined: no editor). */
  languageEnabled?: boolean;
  languageId?: string;
  /** Loading progress message from the server, e.g. "loading copilot-default.gguf". */
  progress?: string;
  error?: string;
  lastLatencyMs?: number;
  /** The last answer came from a cache (or typing through) rather than a model. */
  lastFromCache?: boolean;
  lastRoute?: string;
  alerts: string[];
  /** Something is being generated right now (explicit generation). */
  busy?: boolean;
  /** The address of the running server connected to (copilotLsp.server.address), if any. */
  address?: string;
}

export interface StatusView {
  text: string;
  tooltip: string;
  /** "error" and "warning" color the item. */
  severity: "normal" | "warning" | "error";
}

const NAME = "copilot-lsp";

export function formatLatency(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

export function statusView(state: StatusState): StatusView {
  const tips: string[] = [];
  let text: string;
  let severity: StatusView["severity"] = "normal";
  if (state.phase === "error") {
    text = `$(error) ${NAME}`;
    severity = "error";
    tips.push(`Error: ${state.error ?? "the server stopped"}`);
  } else if (state.phase === "starting") {
    text = `$(sync~spin) ${NAME}`;
    tips.push(state.address ? `Connecting to the server at ${state.address}` : "Starting the server");
  } else if (state.phase === "loading") {
    text = `$(sync~spin) ${NAME}: loading`;
    tips.push(state.progress ? `Loading the model: ${state.progress}` : "Loading the model");
  } else if (state.phase === "stopped") {
    text = `$(debug-stop) ${NAME}`;
    tips.push("The server is stopped");
  } else if (!state.enabled) {
    text = `$(circle-slash) ${NAME}: off`;
    tips.push("Suggestions are off");
  } else if (state.languageEnabled === false) {
    text = `$(circle-slash) ${NAME}: off for ${state.languageId ?? "this language"}`;
    tips.push(`Suggestions are off for ${state.languageId ?? "this language"} (copilotLsp.languages)`);
  } else {
    text = state.busy ? `$(sync~spin) ${NAME}` : `$(check) ${NAME}`;
    tips.push("Ready");
  }
  if (state.phase === "ready" && state.lastLatencyMs !== undefined) {
    const from = state.lastFromCache ? "cache" : state.lastRoute ?? "model";
    if (state.enabled && state.languageEnabled !== false) {
      text += ` ${formatLatency(state.lastLatencyMs)}${state.lastFromCache ? " (cache)" : ""}`;
    }
    tips.push(`Last suggestion: ${formatLatency(state.lastLatencyMs)}, from the ${from}`);
  }
  if (state.alerts.length > 0) {
    if (severity === "normal") {
      severity = "warning";
    }
    text += " $(warning)";
    tips.push(...state.alerts.map((alert) => `Alert: ${alert}`));
  }
  if (state.address && state.phase !== "starting") {
    tips.push(`Server: ${state.address} (TCP, copilotLsp.server.address)`);
  }
  tips.push("Click for the menu");
  return { text, tooltip: tips.join("\n"), severity };
}

type Json = Record<string, any>;

function pct(value: unknown): string {
  return typeof value === "number" ? `${(value * 100).toFixed(1)} %` : "-";
}

function ms(value: unknown): string {
  return typeof value === "number" ? value.toFixed(1) : "-";
}

/** `copilot/stats` as a Markdown page. */
export function renderStats(stats: Json): string {
  const window: Json = stats.window ?? {};
  const counts: Json = stats.counts ?? {};
  const lines = ["# copilot-lsp statistics", ""];
  lines.push(`Requests since start: ${counts.requests ?? 0}; in the window: ${window.requests ?? 0}.`, "");
  const routes: Json = window.routes ?? {};
  if (Object.keys(routes).length > 0) {
    lines.push(`Answered by: ${Object.entries(routes).map(([route, n]) => `${route} ${n}`).join(", ")}.`, "");
  }
  const rows: [string, Json][] = [
    ...Object.entries((window.route_ms ?? {}) as Json).map(([route, v]) => [`route ${route}`, v] as [string, Json]),
    ...Object.entries((window.stage_ms ?? {}) as Json).map(([stage, v]) => [`stage ${stage}`, v] as [string, Json]),
  ];
  if (rows.length > 0) {
    lines.push("| latency (ms, window) | p50 | p95 | p99 | n |", "| --- | ---: | ---: | ---: | ---: |");
    for (const [name, v] of rows) {
      lines.push(`| ${name} | ${ms(v.p50)} | ${ms(v.p95)} | ${ms(v.p99)} | ${v.n ?? "-"} |`);
    }
    lines.push("");
  }
  const hits: Json = window.cache_hit_rate ?? {};
  lines.push(`- cache hits: ${Object.entries(hits).map(([level, rate]) => `${level} ${pct(rate)}`).join(", ") || "-"}`);
  lines.push(`- typing-through share: ${pct(window.typing_through_share)}`);
  lines.push(`- KV cache reuse: ${pct(window.kv_reuse)} of prompt tokens`);
  lines.push(`- draft acceptance: ${pct(window.draft_acceptance)}`);
  lines.push(`- errors / cancelled: ${pct(window.error_rate)} / ${pct(window.cancel_rate)} of requests`);
  const acceptance: Json = stats.acceptance ?? {};
  let any = false;
  for (const by of ["language", "route"]) {
    for (const [name, row] of Object.entries((acceptance[by] ?? {}) as Json)) {
      any = true;
      lines.push(
        `- accepted (${by} ${name}): ${pct(row.rate)} of ${row.shown} shown `
          + `(${row.accepted} whole, ${row.partial} partly, ${row.dismissed} dismissed)`,
      );
    }
  }
  if (!any) {
    lines.push("- accepted: no suggestion shown yet");
  }
  const cost: Json = stats.cost ?? {};
  if (cost.all_remote) {
    lines.push(`- remote cost since start: ${Number(cost.spent).toFixed(4)} (all-remote: ${Number(cost.all_remote).toFixed(4)})`);
  }
  for (const alert of (stats.alerts ?? []) as string[]) {
    lines.push(`- **alert**: ${alert}`);
  }
  lines.push("", "Everything here stays on this machine. The raw numbers:", "", "```json", JSON.stringify(stats, null, 2), "```", "");
  return lines.join("\n");
}
