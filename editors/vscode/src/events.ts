// Shown / accepted / partly accepted / dismissed: what happened to each suggestion, for the
// server's local acceptance metrics (`copilot/completionEvent`; nothing goes anywhere else).
// VS Code's stable API says when a suggestion is accepted (the item's command runs) but not
// when it is shown or dropped, so the tracker infers those from what it sees:
//   - shown: the provider returned the suggestion (once per server request id);
//   - typing (or accepting word by word) the start of the suggestion keeps it alive;
//   - accepted: the item's command ran;
//   - a suggestion replaced by another one, an edit elsewhere, Escape or leaving the editor
//     ends it: "partial" with the number of characters typed through, or "dismissed".
// Pure: no `vscode` import.

export type EventName = "shown" | "accepted" | "partial" | "dismissed";

export interface CompletionEvent {
  requestId: number;
  event: EventName;
  acceptedChars?: number;
}

export interface Suggestion {
  requestId: number;
  uri: string;
  line: number;
  character: number;
  text: string;
}

export interface Change {
  /** Start of the replaced range. */
  line: number;
  character: number;
  /** Length of the replaced range (0 for an insertion). */
  rangeLength: number;
  text: string;
}

interface Current extends Suggestion {
  typed: string;
}

/** Where the cursor is after typing `typed` from (line, character). */
export function advance(line: number, character: number, typed: string): { line: number; character: number } {
  const lines = typed.split("\n");
  if (lines.length === 1) {
    return { line, character: character + typed.length };
  }
  return { line: line + lines.length - 1, character: lines[lines.length - 1].length };
}

export class SuggestionTracker {
  private current: Current | undefined;
  private readonly shownIds = new Set<number>();

  /** The suggestion being tracked, with what was typed through so far. */
  get active(): (Suggestion & { typed: string }) | undefined {
    return this.current;
  }

  /** The provider returned `suggestion`. */
  shown(suggestion: Suggestion): CompletionEvent[] {
    const events: CompletionEvent[] = [];
    if (this.current && this.current.requestId !== suggestion.requestId) {
      events.push(...this.end());
    }
    if (this.current?.requestId === suggestion.requestId) {
      // The same request again (a re-trigger while streaming, or typing through): keep counting.
      this.current = { ...this.current, text: suggestion.text, line: suggestion.line, character: suggestion.character, typed: "" };
      return events;
    }
    this.current = { ...suggestion, typed: "" };
    if (!this.shownIds.has(suggestion.requestId)) {
      this.shownIds.add(suggestion.requestId);
      if (this.shownIds.size > 1000) {
        this.shownIds.delete(this.shownIds.values().next().value as number);
      }
      events.push({ requestId: suggestion.requestId, event: "shown" });
    }
    return events;
  }

  /** The item's command ran: the suggestion (what is left of it) was accepted. */
  accepted(requestId: number): CompletionEvent[] {
    const chars = this.current?.requestId === requestId ? this.current.text.length : undefined;
    if (this.current?.requestId === requestId) {
      this.current = undefined;
    }
    return [{ requestId, event: "accepted", ...(chars !== undefined ? { acceptedChars: chars } : {}) }];
  }

  /** The document changed. */
  changed(uri: string, changes: Change[]): CompletionEvent[] {
    const current = this.current;
    if (!current || uri !== current.uri) {
      return [];
    }
    for (const change of changes) {
      const at = advance(current.line, current.character, current.typed);
      const typed = current.typed + change.text;
      const consistent = change.rangeLength === 0 && change.line === at.line && change.character === at.character
        && change.text.length > 0 && current.text.startsWith(typed);
      if (!consistent) {
        return this.end();
      }
      current.typed = typed;
    }
    return [];
  }

  /** The suggestion went away: Escape, another editor, the server restarted. */
  dismissed(): CompletionEvent[] {
    return this.end();
  }

  private end(): CompletionEvent[] {
    const current = this.current;
    this.current = undefined;
    if (!current) {
      return [];
    }
    if (current.typed.length > 0) {
      return [{ requestId: current.requestId, event: "partial", acceptedChars: current.typed.length }];
    }
    return [{ requestId: current.requestId, event: "dismissed" }];
  }
}
