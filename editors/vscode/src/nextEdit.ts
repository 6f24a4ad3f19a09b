// Next-edit suggestions in VS Code: the controller (requests, decorations, context keys,
// jump / accept / dismiss). The pure logic is in nextEditLogic.ts.
import * as vscode from "vscode";
import type { LanguageClient } from "vscode-languageclient/node";
import {
  INLINE_EDIT_METHOD,
  INLINE_EDIT_EVENT_METHOD,
  VISIBLE_CONTEXT,
  AT_CURSOR_CONTEXT,
  COMMANDS,
  Pos,
  NextEdit,
  EditEvent,
  parseEdits,
  atEdit,
  tabAction,
  preview,
  hintText,
  baseName,
  ShownOnce,
  nextEditSettings,
} from "./nextEditLogic";

export interface NextEditHost {
  /** The language client, when one runs. */
  client(): LanguageClient | undefined;
  /** Suggestions on for this language (and on at all)? */
  enabledFor(languageId: string): boolean;
}

/** What the tests (through the extension's API) see. */
export interface NextEditState {
  /** The edit on screen. */
  shown: NextEdit | undefined;
  /** The context keys as last set. */
  visible: boolean;
  atCursor: boolean;
  /** Editors decorated with the edit, and whether the hint (edit in another document) shows. */
  decoratedEditors: number;
  hint: string | undefined;
  /** Requests sent, answers with edits. */
  requests: number;
  answered: number;
  /** The events sent, newest last. */
  events: EditEvent[];
  trace: string[];
}

const HOVER = "copilot-lsp next edit: `Tab` goes there, `Tab` again accepts it, `Escape` dismisses it";

export class NextEdits implements vscode.Disposable {
  private current: { edit: NextEdit; origin: string } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending: vscode.CancellationTokenSource | undefined;
  private seq = 0;
  private readonly shownOnce = new ShownOnce();
  private readonly removed: vscode.TextEditorDecorationType;
  private readonly inserted: vscode.TextEditorDecorationType;
  private readonly hint: vscode.TextEditorDecorationType;
  private readonly disposables: vscode.Disposable[] = [];
  private context = { visible: false, atCursor: false };
  private decoratedEditors = 0;
  private hintShown: string | undefined;
  private requests = 0;
  private answered = 0;
  private readonly events: EditEvent[] = [];
  private readonly trace: string[] = [];

  constructor(private readonly host: NextEditHost) {
    this.removed = vscode.window.createTextEditorDecorationType({
      backgroundColor: new vscode.ThemeColor("diffEditor.removedTextBackground"),
      textDecoration: "line-through",
      overviewRulerColor: new vscode.ThemeColor("editorOverviewRuler.modifiedForeground"),
      overviewRulerLane: vscode.OverviewRulerLane.Center,
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    });
    this.inserted = vscode.window.createTextEditorDecorationType({
      after: {
        backgroundColor: new vscode.ThemeColor("diffEditor.insertedTextBackground"),
        border: "1px solid",
        borderColor: new vscode.ThemeColor("diffEditor.insertedTextBorder"),
        margin: "0 0 0 0.2em",
      },
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    });
    this.hint = vscode.window.createTextEditorDecorationType({
      after: {
        color: new vscode.ThemeColor("editorCodeLens.foreground"),
        fontStyle: "italic",
        margin: "0 0 0 2em",
      },
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    });
    this.disposables.push(
      this.removed,
      this.inserted,
      this.hint,
      vscode.commands.registerCommand(COMMANDS.jump, () => this.jump()),
      vscode.commands.registerCommand(COMMANDS.accept, () => this.accept()),
      vscode.commands.registerCommand(COMMANDS.dismiss, () => this.dismiss()),
      vscode.workspace.onDidChangeTextDocument((event) => this.onChange(event)),
      vscode.window.onDidChangeTextEditorSelection((event) => this.onSelection(event)),
      vscode.window.onDidChangeActiveTextEditor((editor) => this.onActiveEditor(editor)),
      vscode.window.onDidChangeVisibleTextEditors(() => this.render()),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration("copilotLsp")) {
          // After the extension's own listener has read the settings (host.enabledFor).
          setTimeout(() => {
            const edit = this.current?.edit;
            if (edit && !this.enabledFor(this.documentOf(edit.uri))) {
              this.cancel();
              this.clear("off");
            }
          }, 0);
        }
      }),
    );
  }

  dispose(): void {
    this.cancel();
    this.clear("disposed");
    this.disposables.forEach((d) => d.dispose());
  }

  /** The server went away: its request ids mean nothing to the next one. */
  reset(): void {
    this.cancel();
    this.clear("reset");
    this.shownOnce.clear();
  }

  get state(): NextEditState {
    return {
      shown: this.current && { ...this.current.edit },
      visible: this.context.visible,
      atCursor: this.context.atCursor,
      decoratedEditors: this.decoratedEditors,
      hint: this.hintShown,
      requests: this.requests,
      answered: this.answered,
      events: [...this.events],
      trace: [...this.trace],
    };
  }

  private note(line: string): void {
    this.trace.push(`${Math.round(performance.now())} ${line}`);
    if (this.trace.length > 100) {
      this.trace.shift();
    }
  }

  private settings(): { enabled: boolean; delayMs: number } {
    const config = vscode.workspace.getConfiguration("copilotLsp.nextEdit");
    return nextEditSettings(config.get("enabled"), config.get("delayMs"));
  }

  private enabledFor(document: vscode.TextDocument | undefined): boolean {
    return document !== undefined && (document.uri.scheme === "file" || document.uri.scheme === "untitled")
      && this.settings().enabled && this.host.enabledFor(document.languageId);
  }

  private runningClient(): LanguageClient | undefined {
    const client = this.host.client();
    return client?.isRunning() ? client : undefined;
  }

  // ---- asking ----

  /** Ask for `uri` after `delayMs` (the pause in typing), at the cursor when its editor is the
   * active one, else at `fallback`. */
  private schedule(uri: string, delayMs: number, fallback?: Pos): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.request(uri, fallback);
    }, delayMs);
  }

  private cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.seq++;
    this.pending?.cancel();
    this.pending?.dispose();
    this.pending = undefined;
  }

  private async request(uri: string, fallback?: Pos): Promise<void> {
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
    const client = this.runningClient();
    if (!document || !client || !this.enabledFor(document)) {
      return;
    }
    const editor = vscode.window.activeTextEditor;
    const cursor = editor?.document === document ? editor.selection.active : fallback ?? { line: 0, character: 0 };
    this.cancel();
    const seq = this.seq;
    const source = new vscode.CancellationTokenSource();
    this.pending = source;
    const version = document.version; // what vscode-languageclient sent last
    this.requests++;
    let result: unknown;
    try {
      result = await client.sendRequest(INLINE_EDIT_METHOD, {
        textDocument: { uri, version },
        position: { line: cursor.line, character: cursor.character },
      }, source.token);
    } catch (error) {
      if (seq === this.seq) {
        this.note(`request v${version} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      return;
    } finally {
      if (this.pending === source) {
        this.pending = undefined;
      }
      source.dispose();
    }
    if (seq !== this.seq || document.version !== version) {
      this.note(`answer for v${version} dropped (newer text)`);
      return;
    }
    const edits = parseEdits(result);
    // The first edit whose document is open at the version the edit is for.
    const edit = edits.find((e) => {
      const target = vscode.workspace.textDocuments.find((d) => d.uri.toString() === e.uri);
      return target !== undefined && (e.version === undefined || e.version === target.version);
    });
    this.note(`answer v${version}: ${edits.length} edits${edit ? `, showing id ${edit.requestId} ${edit.start.line}:${edit.start.character}` : ""}`);
    if (!edit) {
      return;
    }
    this.answered++;
    this.show(edit, uri);
  }

  // ---- showing ----

  private show(edit: NextEdit, origin: string): void {
    this.current = { edit, origin };
    this.render();
    if (edit.requestId !== undefined && this.shownOnce.first(edit.requestId)) {
      this.send({ requestId: edit.requestId, event: "shown", index: edit.index });
    }
  }

  private clear(why: string): void {
    if (this.current) {
      this.note(`cleared (${why})`);
    }
    this.current = undefined;
    this.render();
  }

  private rangeOf(edit: NextEdit): vscode.Range {
    return new vscode.Range(edit.start.line, edit.start.character, edit.end.line, edit.end.character);
  }

  private documentOf(uri: string): vscode.TextDocument | undefined {
    return vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
  }

  /** The decorations and context keys for the current edit (none when there is none). */
  private render(): void {
    const edit = this.current?.edit;
    let decorated = 0;
    for (const editor of vscode.window.visibleTextEditors) {
      if (edit && editor.document.uri.toString() === edit.uri) {
        const range = this.rangeOf(edit);
        editor.setDecorations(this.removed, range.isEmpty ? [] : [range]);
        editor.setDecorations(this.inserted, edit.text === "" ? [] : [{
          range: new vscode.Range(range.end, range.end),
          renderOptions: { after: { contentText: preview(edit.text) } },
          hoverMessage: HOVER,
        }]);
        decorated++;
      } else {
        editor.setDecorations(this.removed, []);
        editor.setDecorations(this.inserted, []);
      }
      editor.setDecorations(this.hint, []);
    }
    this.decoratedEditors = decorated;
    this.hintShown = undefined;
    const active = vscode.window.activeTextEditor;
    if (edit && active && active.document.uri.toString() !== edit.uri) {
      const target = this.documentOf(edit.uri);
      const old = target ? target.getText(this.rangeOf(edit)) : "";
      const line = active.document.lineAt(active.selection.active.line).range.end;
      this.hintShown = hintText(edit, baseName(edit.uri), old);
      active.setDecorations(this.hint, [{ range: new vscode.Range(line, line), renderOptions: { after: { contentText: this.hintShown } } }]);
    }
    this.updateContext();
  }

  private updateContext(): void {
    const edit = this.current?.edit;
    const active = vscode.window.activeTextEditor;
    const visible = edit !== undefined;
    const atCursor = edit !== undefined && active !== undefined
      && tabAction(active.document.uri.toString(), active.selection.active, edit) === "accept";
    if (visible !== this.context.visible) {
      void vscode.commands.executeCommand("setContext", VISIBLE_CONTEXT, visible);
    }
    if (atCursor !== this.context.atCursor) {
      void vscode.commands.executeCommand("setContext", AT_CURSOR_CONTEXT, atCursor);
    }
    this.context = { visible, atCursor };
  }

  /** `copilot/inlineEditEvent`, always with the edit's place in the answer (`edit`; the
   * server reads 0, the first, without it). */
  private send(event: EditEvent & { event: "shown" | "rejected"; index: number }): void {
    this.record(event);
    const client = this.runningClient();
    if (client) {
      const params = { requestId: event.requestId, event: event.event, edit: event.index };
      void client.sendNotification(INLINE_EDIT_EVENT_METHOD, params).catch(() => undefined);
    }
  }

  private record(event: EditEvent): void {
    this.events.push(event);
    if (this.events.length > 200) {
      this.events.shift();
    }
  }

  // ---- the commands ----

  /** Go to the edit: its document in an editor, the cursor at its start. */
  async jump(): Promise<boolean> {
    const edit = this.current?.edit;
    if (!edit) {
      return false;
    }
    const document = this.documentOf(edit.uri) ?? await vscode.workspace.openTextDocument(vscode.Uri.parse(edit.uri));
    const editor = vscode.window.activeTextEditor?.document === document
      ? vscode.window.activeTextEditor
      : await vscode.window.showTextDocument(document);
    const start = new vscode.Position(edit.start.line, edit.start.character);
    editor.selection = new vscode.Selection(start, start);
    editor.revealRange(this.rangeOf(edit), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    this.note(`jump to ${edit.start.line}:${edit.start.character}`);
    this.render();
    return true;
  }

  /** Apply the edit, report it accepted, and ask for the next one. */
  async accept(): Promise<boolean> {
    const current = this.current;
    if (!current) {
      return false;
    }
    const { edit } = current;
    const document = this.documentOf(edit.uri);
    this.cancel();
    this.clear("accepted");
    if (!document || (edit.version !== undefined && document.version !== edit.version)) {
      this.note("accept: the document changed since, not applied");
      return false;
    }
    const active = vscode.window.activeTextEditor;
    const wasAt = active?.document === document && atEdit(edit.uri, active.selection.active, edit);
    if (!(await this.apply(document, edit))) {
      this.note("accept: the edit was not applied");
      return false;
    }
    const lines = edit.text.split("\n");
    const end = lines.length === 1
      ? { line: edit.start.line, character: edit.start.character + edit.text.length }
      : { line: edit.start.line + lines.length - 1, character: lines[lines.length - 1].length };
    if (wasAt && active) {
      const position = new vscode.Position(end.line, end.character);
      active.selection = new vscode.Selection(position, position);
    }
    if (edit.requestId !== undefined) {
      this.record({ requestId: edit.requestId, event: "accepted" });
    }
    const client = this.runningClient();
    if (client && edit.command) {
      try {
        await client.sendRequest("workspace/executeCommand", { command: edit.command.command, arguments: edit.command.arguments });
      } catch (error) {
        this.note(`accept: the server command failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.note(`accepted id ${edit.requestId}`);
    this.schedule(edit.uri, this.settings().delayMs, end); // the next one
    return true;
  }

  /** The edit into the document as one content change, the way the server's edit history
   * reads a rename: through an editor showing the document when there is one (VS Code sends
   * an editor's edit as it is; `workspace.applyEdit` sends a minimal diff, `net_price` ->
   * `price_after_tax` as three changes: `net_` deleted, `e_aft` and `r_tax` inserted), else a
   * WorkspaceEdit. */
  private async apply(document: vscode.TextDocument, edit: NextEdit): Promise<boolean> {
    const range = this.rangeOf(edit);
    const editor = vscode.window.activeTextEditor?.document === document
      ? vscode.window.activeTextEditor
      : vscode.window.visibleTextEditors.find((e) => e.document === document);
    if (editor) {
      return editor.edit((builder) => builder.replace(range, edit.text));
    }
    const workspaceEdit = new vscode.WorkspaceEdit();
    workspaceEdit.replace(document.uri, range, edit.text);
    return vscode.workspace.applyEdit(workspaceEdit);
  }

  /** Hide the edit, and tell the server it was rejected (it offers it there no more). */
  dismiss(): boolean {
    const edit = this.current?.edit;
    if (!edit) {
      return false;
    }
    this.cancel();
    this.clear("dismissed");
    if (edit.requestId !== undefined) {
      this.send({ requestId: edit.requestId, event: "rejected", index: edit.index });
    }
    return true;
  }

  // ---- the editor's events ----

  private onChange(event: vscode.TextDocumentChangeEvent): void {
    const document = event.document;
    if (event.contentChanges.length === 0 || (document.uri.scheme !== "file" && document.uri.scheme !== "untitled")) {
      return; // output channels and the like
    }
    const uri = document.uri.toString();
    if (this.current && (this.current.edit.uri === uri || this.current.origin === uri)) {
      this.clear("text changed");
    }
    if (vscode.window.activeTextEditor?.document === document) {
      this.cancel(); // an answer for the text before this change is stale
      if (this.enabledFor(document)) {
        this.schedule(uri, this.settings().delayMs);
      }
    }
  }

  private onSelection(event: vscode.TextEditorSelectionChangeEvent): void {
    if (this.current && event.textEditor === vscode.window.activeTextEditor) {
      if (this.hintShown) {
        this.render(); // the hint follows the cursor's line
      } else {
        this.updateContext(); // Tab: jump or accept
      }
    }
  }

  private onActiveEditor(editor: vscode.TextEditor | undefined): void {
    if (!this.current) {
      return;
    }
    const uri = editor?.document.uri.toString();
    if (editor && uri !== this.current.edit.uri && uri !== this.current.origin) {
      this.clear("another editor"); // not rejected: the user went elsewhere
    } else {
      this.render();
    }
  }
}
