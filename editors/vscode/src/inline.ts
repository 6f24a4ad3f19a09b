// The inline completion provider (vscode-languageclient registers it; this is its middleware),
// streaming of partial text, explicit generation, and the shown/accepted/dismissed events.
import * as vscode from "vscode";
import { CompletionEvent, SuggestionTracker } from "./events";
import { Partial, Place, Stream, Streams } from "./streaming";

/** vscode-languageclient's own provider, which the middleware calls (its type is not exported). */
export type ProvideInlineCompletionItemsSignature = (
  document: vscode.TextDocument,
  position: vscode.Position,
  context: vscode.InlineCompletionContext,
  token: vscode.CancellationToken,
) => vscode.ProviderResult<vscode.InlineCompletionItem[] | vscode.InlineCompletionList>;

export const ACCEPT_COMMAND = "copilotLsp.accepted";
const SERVER_ACCEPT_COMMAND = "copilot.accepted";
const RETRIGGER_GRACE_MS = 500;
/** The provider's trace on the extension host's console too (the UI test sets it). */
const TRACE_TO_CONSOLE = Boolean(process.env.COPILOT_LSP_VSCODE_TRACE);

export interface Answer {
  requestId?: number;
  text: string;
  latencyMs: number;
  /** Answered without the model writing it (cache or typing through). */
  fromCache: boolean;
  explicit: boolean;
  route?: string;
}

export interface InlineHost {
  /** Suggestions on for this language? */
  enabledFor(languageId: string): boolean;
  /** Send a completion event to the server (when it runs). */
  sendEvent(event: CompletionEvent): void;
  /** A suggestion was answered (for the status bar). */
  answered(answer: Answer): void;
}

function placeOf(document: vscode.TextDocument, position: vscode.Position): Place {
  return { uri: document.uri.toString(), version: document.version, line: position.line, character: position.character };
}

function firstItem(result: vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined) {
  const items = Array.isArray(result) ? result : result?.items ?? [];
  const item = items[0];
  if (!item) {
    return undefined;
  }
  const text = typeof item.insertText === "string" ? item.insertText : item.insertText.value;
  const id = item.command?.command === SERVER_ACCEPT_COMMAND ? item.command.arguments?.[0] : undefined;
  return { text, requestId: typeof id === "number" ? id : undefined, range: item.range };
}

export class Inline implements vscode.Disposable {
  readonly streams = new Streams();
  readonly tracker = new SuggestionTracker();
  /** The events sent, newest last (the tests read them). */
  readonly sent: CompletionEvent[] = [];
  /** How streaming went: provider calls answered with partial text before the final answer,
   * re-triggers to show newer text, and the last suggestion the provider returned. */
  readonly counters = { early: 0, retriggers: 0 };
  lastShown: { requestId: number; text: string } | undefined;
  /** The last things the provider did, in a line each. */
  readonly trace: string[] = [];
  /** Events held back until the server has finished the request they are about (text shown
   * while streaming comes earlier). The server also keeps early events until the answer is
   * recorded; holding them here as well costs nothing and does not rely on that. */
  private held: CompletionEvent[] = [];
  private readonly waiters = new Map<Stream, () => void>();
  private generating: Stream[] = [];
  private freshProvider: vscode.Disposable | undefined;
  private readonly requests = new Map<Stream, vscode.CancellationTokenSource>();
  private retriggerPendingUntil = 0;
  private recheck: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly host: InlineHost) {
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((event) => this.onChange(event)),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        const active = this.tracker.active;
        if (active && editor?.document.uri.toString() !== active.uri) {
          this.send(this.tracker.dismissed());
        }
      }),
      vscode.window.onDidChangeTextEditorSelection((event) => this.onSelection(event)),
    );
  }

  dispose(): void {
    for (const source of this.requests.values()) {
      source.cancel();
    }
    this.requests.clear();
    this.streams.clear();
    this.freshProvider?.dispose();
    clearTimeout(this.recheck);
    this.disposables.forEach((d) => d.dispose());
  }

  /** The server went away: forget what is in flight (its ids mean nothing to the next one). */
  reset(): void {
    for (const source of this.requests.values()) {
      source.cancel();
    }
    this.requests.clear();
    this.streams.clear();
    this.held = [];
    this.tracker.dismissed();
  }

  note(line: string): void {
    this.trace.push(`${Math.round(performance.now())} ${line}`);
    if (TRACE_TO_CONSOLE) {
      console.log(`copilot-lsp trace: ${Math.round(performance.now())} ${line}`);
    }
    if (this.trace.length > 200) {
      this.trace.shift();
    }
  }

  private send(events: CompletionEvent[]): void {
    for (const event of events) {
      const stream = [...this.requests.keys()].find((s) => s.requestId === event.requestId && !s.done)
        ?? this.generating.find((s) => s.requestId === event.requestId && !s.done);
      if (stream) {
        this.held.push(event);
        continue;
      }
      this.deliver(event);
    }
  }

  private release(requestId: number | undefined): void {
    const now = this.held.filter((e) => e.requestId === requestId);
    this.held = this.held.filter((e) => e.requestId !== requestId).slice(-100);
    now.forEach((event) => this.deliver(event));
  }

  private deliver(event: CompletionEvent): void {
    this.sent.push(event);
    if (this.sent.length > 200) {
      this.sent.shift();
    }
    this.host.sendEvent(event);
  }

  /** The middleware of the provider vscode-languageclient registers. */
  readonly provide = async (
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
    next: ProvideInlineCompletionItemsSignature,
  ): Promise<vscode.InlineCompletionItem[] | null> => {
    if (!this.host.enabledFor(document.languageId)) {
      this.note(`provide: off for ${document.languageId}`);
      return null;
    }
    const place = placeOf(document, position);
    const existing = this.streams.at(place);
    const explicitly = context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
    this.note(`provide v${place.version} ${place.line}:${place.character} ${explicitly ? "invoke" : "auto"}`
      + (existing ? ` existing(id ${existing.requestId}, ${existing.text.length} chars${existing.done ? ", done" : ""})` : ""));
    if (existing && (existing.text || existing.done || existing.explicit)) {
      return this.itemsOf(existing, position); // streaming, or an explicit generation
    }
    this.cancel(existing);
    const stream = this.streams.begin(place);
    const source = new vscode.CancellationTokenSource();
    this.requests.set(stream, source);
    // Until the provider has returned, VS Code's cancellation cancels the request; after
    // an early return (streaming), only an edit or a cursor move does.
    const cancelled = new Promise<"cancelled">((resolve) => {
      const listener = token.onCancellationRequested(() => {
        listener.dispose();
        if (!stream.returned) {
          source.cancel();
          resolve("cancelled");
        }
      });
    });
    const firstText = new Promise<"partial">((resolve) => this.waiters.set(stream, () => resolve("partial")));
    const started = performance.now();
    const response = Promise.resolve(next(document, position, context, source.token)).then(
      (result) => this.finished(stream, source.token.isCancellationRequested ? undefined : result, started),
      () => this.finished(stream, undefined, started),
    );
    const first = await Promise.race([response.then(() => "final" as const), firstText, cancelled]);
    this.waiters.delete(stream);
    this.note(`  ${first}${token.isCancellationRequested ? " (cancelled)" : ""}: id ${stream.requestId}, ${stream.text.length} chars`);
    if (first === "cancelled" || token.isCancellationRequested) {
      return null;
    }
    if (first === "partial") {
      this.counters.early++;
    }
    return this.itemsOf(stream, position);
  };

  private itemsOf(stream: Stream, position: vscode.Position): vscode.InlineCompletionItem[] {
    stream.returned = true;
    stream.shown = stream.text;
    this.retriggerPendingUntil = 0;
    if (!stream.text || stream.requestId === undefined) {
      return [];
    }
    this.lastShown = { requestId: stream.requestId, text: stream.text };
    this.send(this.tracker.shown({ requestId: stream.requestId, uri: stream.place.uri, line: position.line, character: position.character, text: stream.text }));
    const command = { title: "Accept suggestion", command: ACCEPT_COMMAND, arguments: [stream.requestId] };
    return [new vscode.InlineCompletionItem(stream.text, new vscode.Range(position, position), command)];
  }

  private finished(stream: Stream, result: Parameters<typeof firstItem>[0], started: number): void {
    this.requests.delete(stream);
    if (this.streams.get(stream.place.uri) !== stream) {
      this.release(stream.requestId);
      return; // superseded
    }
    if (result === undefined) {
      this.streams.end(stream); // cancelled or failed: the next call at this place asks again
      this.release(stream.requestId);
      return;
    }
    const item = firstItem(result);
    // The server sends the final text as a (done) partial only when a model wrote it.
    const generated = stream.done;
    stream.done = true;
    this.release(stream.requestId);
    this.release(item?.requestId);
    this.note(`answer id ${item?.requestId} ${item?.text.length ?? 0} chars${generated ? "" : " (cache)"}`);
    const retrigger = this.streams.finish(stream, item?.text ?? "", item?.requestId);
    if (item) {
      this.host.answered({
        requestId: item.requestId,
        text: item.text,
        latencyMs: performance.now() - started,
        fromCache: !generated,
        explicit: false,
      });
    }
    if (retrigger) {
      this.retrigger(stream);
    }
  }

  /** `copilot/partialCompletion` from the server. */
  onPartial(partial: Partial): void {
    const applied = this.streams.partial(partial);
    this.note(`partial id ${partial.requestId} v${partial.version} ${partial.text.length} chars${partial.done ? " done" : ""}`
      + (applied ? (applied.retrigger ? " -> retrigger" : "") : " (not ours)"));
    if (!applied) {
      return;
    }
    const waiter = this.waiters.get(applied.stream);
    if (waiter && applied.stream.text) {
      waiter();
    } else if (applied.retrigger) {
      this.retrigger(applied.stream);
    }
  }

  /** Ask VS Code to call the provider again, to show text that arrived after it returned. */
  private retrigger(stream: Stream): void {
    const editor = vscode.window.activeTextEditor;
    const place = stream.place;
    if (!editor || editor.document.uri.toString() !== place.uri || editor.document.version !== place.version) {
      return;
    }
    const cursor = editor.selection.active;
    if (!editor.selection.isEmpty || cursor.line !== place.line || cursor.character !== place.character) {
      return;
    }
    const now = performance.now();
    if (now < this.retriggerPendingUntil) {
      // The call on its way reads the newest text; should it not come, look again later.
      this.note("retrigger pending");
      clearTimeout(this.recheck);
      this.recheck = setTimeout(() => {
        if (this.streams.get(place.uri) === stream && stream.text !== stream.shown) {
          this.retrigger(stream);
        }
      }, this.retriggerPendingUntil - now + 10);
      return;
    }
    this.retriggerPendingUntil = now + RETRIGGER_GRACE_MS;
    this.counters.retriggers++;
    this.note("retrigger");
    void this.askAgain();
  }

  /** Make VS Code call the provider now and show what it answers.
   *
   * Two things in VS Code's inline suggestions stand in the way (checked against VS Code
   * 1.139): an explicit trigger at the cursor position and document version of its last
   * request counts as answered (whatever the answer was) unless the new request has a
   * provider the last one did not have; and an explicit trigger keeps the suggestion on
   * screen first, the new text only becoming an alternative. So the suggestion is hidden
   * first (a no-op when none shows; the new text replaces it within a frame or two), and a
   * fresh provider that never answers anything is registered for each call (the one before
   * disposed), which makes the set of providers new. */
  async askAgain(): Promise<void> {
    const previous = this.freshProvider;
    this.freshProvider = vscode.languages.registerInlineCompletionItemProvider(
      [{ scheme: "file" }, { scheme: "untitled" }],
      { provideInlineCompletionItems: () => undefined },
    );
    try {
      await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
      await vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
    } finally {
      previous?.dispose();
    }
  }

  /** An explicit generation: the result (and the text streamed before it) shows as the
   * inline suggestion at the cursor. */
  async generate(
    editor: vscode.TextEditor,
    request: (params: object) => Promise<{ requestId?: number; text?: string; route?: string; reason?: string; error?: string }>,
  ): Promise<Answer & { reason?: string; error?: string }> {
    const document = editor.document;
    const position = editor.selection.active;
    const place = placeOf(document, position);
    this.cancel(this.streams.get(place.uri));
    const stream = this.streams.begin(place, true);
    stream.returned = true; // partial text goes to the screen by re-triggering
    const started = performance.now();
    this.generating.push(stream);
    let result: Awaited<ReturnType<typeof request>>;
    try {
      result = await request({ textDocument: { uri: place.uri }, position: { line: position.line, character: position.character } });
    } finally {
      this.generating = this.generating.filter((s) => s !== stream);
    }
    const text = result.error ? "" : result.text ?? "";
    const latencyMs = performance.now() - started;
    if (this.streams.get(place.uri) === stream) {
      if (this.streams.finish(stream, text, result.requestId)) {
        this.retrigger(stream);
      }
    }
    this.release(stream.requestId);
    this.release(result.requestId);
    const answer: Answer = { requestId: result.requestId, text, latencyMs, fromCache: false, explicit: true, route: result.route };
    this.host.answered(answer);
    return { ...answer, reason: result.reason, error: result.error };
  }

  /** The item's command: the suggestion was accepted. */
  accepted(requestId: number): void {
    this.send(this.tracker.accepted(requestId));
  }

  /** Escape: hide the suggestion and count it as dismissed. */
  async dismiss(): Promise<void> {
    await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
    const active = this.tracker.active;
    if (active) {
      this.streams.clear(active.uri);
    }
    this.send(this.tracker.dismissed());
  }

  private cancel(stream: Stream | undefined): void {
    if (stream) {
      this.requests.get(stream)?.cancel();
      this.requests.delete(stream);
      this.streams.end(stream);
    }
  }

  private onChange(event: vscode.TextDocumentChangeEvent): void {
    if (event.contentChanges.length === 0) {
      return;
    }
    const uri = event.document.uri.toString();
    this.cancel(this.streams.get(uri)); // its text is for a version that no longer exists
    const changes = event.contentChanges.map((change) => ({
      line: change.range.start.line,
      character: change.range.start.character,
      rangeLength: change.rangeLength,
      text: change.text,
    }));
    this.send(this.tracker.changed(uri, changes));
  }

  private onSelection(event: vscode.TextEditorSelectionChangeEvent): void {
    const stream = this.streams.get(event.textEditor.document.uri.toString());
    const cursor = event.selections[0]?.active;
    if (stream && cursor && stream.place.version === event.textEditor.document.version
      && (cursor.line !== stream.place.line || cursor.character !== stream.place.character)) {
      this.cancel(stream); // the cursor moved away from a suggestion being written
    }
  }
}
