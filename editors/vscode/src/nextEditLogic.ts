// The pure part of next-edit suggestions (no `vscode`: the unit tests load it in plain Node):
// the server's answer parsed, what Tab does, the texts shown, "shown" once per request.
//
// Next-edit suggestions: after a pause in typing, `textDocument/copilotInlineEdit` for the
// active editor's document; the first edit the server offers is shown where it is (the
// replaced text marked, the new text beside it) with decorations, and a context key lets Tab
// jump to it, then accept it, and Escape dismiss it. Stable API only (no proposed API), so
// the .vsix stays publishable.
//
// Events: `copilot/inlineEditEvent` "shown" once per request id when first displayed,
// "rejected" on dismiss; an acceptance runs the edit's command on the server
// (`workspace/executeCommand` copilot.inlineEditAccepted). A text change in the document of
// the edit (or of the request) hides it until the next answer.
//

export const INLINE_EDIT_METHOD = "textDocument/copilotInlineEdit";
export const INLINE_EDIT_EVENT_METHOD = "copilot/inlineEditEvent";
export const VISIBLE_CONTEXT = "copilotLsp.nextEditVisible";
export const AT_CURSOR_CONTEXT = "copilotLsp.nextEditAtCursor";
export const COMMANDS = {
  jump: "copilotLsp.nextEdit.jump",
  accept: "copilotLsp.nextEdit.accept",
  dismiss: "copilotLsp.nextEdit.dismiss",
} as const;
export const DEFAULT_DELAY_MS = 250;

export interface Pos {
  line: number;
  character: number;
}

/** One edit of the server's answer. */
export interface NextEdit {
  uri: string;
  /** The version of `uri` the edit is for (undefined: the server did not say). */
  version: number | undefined;
  start: Pos;
  end: Pos;
  text: string;
  /** The server's request id (the first argument of the edit's command). */
  requestId: number | undefined;
  /** Its place in the server's answer (what `copilot/inlineEditEvent` calls `edit`). */
  index: number;
  /** The command that reports the acceptance on the server. */
  command: { command: string; arguments: unknown[] } | undefined;
}

export type EditEventName = "shown" | "accepted" | "rejected";

export interface EditEvent {
  requestId: number;
  event: EditEventName;
  /** Which of the request's edits (sent with "shown" and "rejected"). */
  index?: number;
}

function isPos(value: unknown): value is Pos {
  const p = value as Pos | undefined;
  return typeof p === "object" && p !== null && Number.isInteger(p.line) && Number.isInteger(p.character)
    && p.line >= 0 && p.character >= 0;
}

export function comparePos(a: Pos, b: Pos): number {
  return a.line - b.line || a.character - b.character;
}

/** The edits of a `textDocument/copilotInlineEdit` result, in the server's order (nearest
 * first); malformed ones are left out. */
export function parseEdits(result: unknown): NextEdit[] {
  const edits = (result as { edits?: unknown } | null | undefined)?.edits;
  if (!Array.isArray(edits)) {
    return [];
  }
  const out: NextEdit[] = [];
  for (const [index, raw] of edits.entries()) {
    const e = raw as {
      range?: { start?: unknown; end?: unknown };
      text?: unknown;
      textDocument?: { uri?: unknown; version?: unknown };
      command?: { command?: unknown; arguments?: unknown };
    } | null;
    if (!e || typeof e.text !== "string" || typeof e.textDocument?.uri !== "string") {
      continue;
    }
    const start = e.range?.start;
    const end = e.range?.end;
    if (!isPos(start) || !isPos(end) || comparePos(start, end) > 0) {
      continue;
    }
    const version = typeof e.textDocument.version === "number" ? e.textDocument.version : undefined;
    const command = typeof e.command?.command === "string"
      ? { command: e.command.command, arguments: Array.isArray(e.command.arguments) ? e.command.arguments : [] }
      : undefined;
    const id = command?.arguments[0];
    out.push({
      uri: e.textDocument.uri,
      version,
      start: { line: start.line, character: start.character },
      end: { line: end.line, character: end.character },
      text: e.text,
      requestId: typeof id === "number" && Number.isInteger(id) ? id : undefined,
      index,
      command,
    });
  }
  return out;
}

/** Whether the cursor (in document `uri`) is at the edit: in its range, ends included. */
export function atEdit(uri: string, cursor: Pos, edit: NextEdit): boolean {
  return uri === edit.uri && comparePos(edit.start, cursor) <= 0 && comparePos(cursor, edit.end) <= 0;
}

/** What Tab does: go to the edit, or accept it once the cursor is there (as Copilot's NES). */
export function tabAction(uri: string | undefined, cursor: Pos | undefined, edit: NextEdit): "jump" | "accept" {
  return uri !== undefined && cursor !== undefined && atEdit(uri, cursor, edit) ? "accept" : "jump";
}

/** The new text as one line of decoration text (a decoration cannot break lines). */
export function preview(text: string, max = 120): string {
  const one = text.replace(/\r?\n/g, "⏎").replace(/\t/g, "    ");
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** The hint shown in the active editor for an edit in another document. */
export function hintText(edit: NextEdit, fileName: string, old: string): string {
  const what = old ? `${preview(old, 40)} → ${preview(edit.text, 60)}` : `insert ${preview(edit.text, 60)}`;
  return `Tab ⇥ ${fileName}:${edit.start.line + 1}: ${what}`;
}

/** The last path segment of a URI, decoded. */
export function baseName(uri: string): string {
  const path = uri.replace(/[?#].*$/, "");
  const last = path.slice(path.lastIndexOf("/") + 1);
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** "shown" once per request id. */
export class ShownOnce {
  private readonly ids = new Set<number>();

  constructor(private readonly capacity = 500) {}

  /** True the first time `requestId` is seen. */
  first(requestId: number): boolean {
    if (this.ids.has(requestId)) {
      return false;
    }
    this.ids.add(requestId);
    if (this.ids.size > this.capacity) {
      this.ids.delete(this.ids.values().next().value as number);
    }
    return true;
  }

  clear(): void {
    this.ids.clear();
  }
}

/** The settings `copilotLsp.nextEdit.*`, with their defaults for missing or wrong values. */
export function nextEditSettings(enabled: unknown, delayMs: unknown): { enabled: boolean; delayMs: number } {
  return {
    enabled: typeof enabled === "boolean" ? enabled : true,
    delayMs: typeof delayMs === "number" && Number.isFinite(delayMs) && delayMs >= 0 ? delayMs : DEFAULT_DELAY_MS,
  };
}
