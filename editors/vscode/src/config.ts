// The extension's settings and what they mean for the server: initializationOptions, the
// workspace/didChangeConfiguration layer, and whether a change needs a restart.
// Pure: no `vscode` import, so `node --test` covers it.

export type LogLevel = "debug" | "info" | "warning" | "error";

/** The `copilotLsp.*` settings. Server-side values are undefined unless the user set them,
 * so that the server's own config.toml applies to everything left at its default. */
export interface Settings {
  enable: boolean;
  languages: Record<string, boolean>;
  /** address: "HOST:PORT" of a running server to connect to; empty: start one (command...). */
  server: { command: string[]; pythonPath: string; env: Record<string, string>; address: string };
  model?: string;
  remoteEnabled?: boolean;
  debounceMs?: number;
  maxLines?: number;
  logLevel?: LogLevel;
  serverSettings: Record<string, unknown>;
}

export const DEFAULT_LANGUAGES: Record<string, boolean> = { "*": true, plaintext: false, markdown: false, scminput: false };

export function defaultSettings(): Settings {
  return {
    enable: true,
    languages: { ...DEFAULT_LANGUAGES },
    server: { command: [], pythonPath: "", env: {}, address: "" },
    serverSettings: {},
  };
}

/** Settings sections the server applies at once; the others need a restart (lsp/server.py). */
export const LIVE_SECTIONS = ["completion", "log"];

export type Options = Record<string, Record<string, unknown>>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `extra` merged into `base`, recursively for objects; `extra` wins. */
export function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] = isObject(current) && isObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

/** The server settings (config.toml's shape) that the extension's settings stand for. */
export function initializationOptions(settings: Settings): Options {
  const options: Record<string, Record<string, unknown>> = {};
  const put = (section: string, key: string, value: unknown) => {
    if (value !== undefined) {
      options[section] = { ...(options[section] ?? {}), [key]: value };
    }
  };
  put("model", "path", settings.model);
  put("remote", "enabled", settings.remoteEnabled);
  put("completion", "debounce_ms", settings.debounceMs);
  put("completion", "max_lines", settings.maxLines);
  put("log", "level", settings.logLevel);
  return deepMerge(options, isObject(settings.serverSettings) ? settings.serverSettings : {}) as Options;
}

/** Is the language on? `languages[id]`, else `languages["*"]`, else on; never when `enable` is off. */
export function languageEnabled(settings: Settings, languageId: string): boolean {
  if (!settings.enable) {
    return false;
  }
  const value = settings.languages[languageId] ?? settings.languages["*"];
  return value !== false;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function flatten(options: Record<string, unknown>, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(options)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (isObject(value) && !prefix) {
      for (const [inner, innerValue] of flatten(value, name)) {
        out.set(inner, innerValue);
      }
    } else {
      out.set(name, JSON.stringify(value));
    }
  }
  return out;
}

export type ChangePlan =
  | { kind: "none" }
  | { kind: "notify"; settings: Options }
  | { kind: "restart"; reason: string };

/** What a settings change means for a running server: nothing, a didChangeConfiguration
 * with the new layer (only `completion` / `log` keys were set or changed), or a restart
 * (the server command, or a key of another section changed, or a key went back to the
 * server's default, which a configuration layer cannot express). */
export function changePlan(before: Settings, after: Settings): ChangePlan {
  if (before.server.address !== after.server.address) {
    return { kind: "restart", reason: "the server address changed" };
  }
  if (!sameJson(before.server, after.server)) {
    return { kind: "restart", reason: "the server command changed" };
  }
  const old = flatten(initializationOptions(before));
  const now = flatten(initializationOptions(after));
  const changed: string[] = [];
  for (const key of new Set([...old.keys(), ...now.keys()])) {
    if (old.get(key) === now.get(key)) {
      continue;
    }
    if (!now.has(key)) {
      return { kind: "restart", reason: `${key} went back to its default` };
    }
    changed.push(key);
  }
  if (changed.length === 0) {
    return { kind: "none" };
  }
  const offline = changed.filter((key) => !LIVE_SECTIONS.includes(key.split(".")[0]));
  if (offline.length > 0) {
    return { kind: "restart", reason: `${offline.join(", ")} changed` };
  }
  const all = initializationOptions(after);
  const live: Options = {};
  for (const section of LIVE_SECTIONS) {
    if (all[section] !== undefined) {
      live[section] = all[section];
    }
  }
  return { kind: "notify", settings: live };
}
