// The extension inside a real VS Code (the compiled VS Code of code-server, driven by
// test/driver/run.ts), against the real server and the real default model. The driver's
// user settings point copilotLsp.server.command at the server under test and give it
// private XDG folders.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as vscode from "vscode";
import type { Api } from "../../src/extension";
import { SOURCE, TYPED } from "../fixture";

export interface Case {
  name: string;
  fn: () => Promise<void>;
  timeoutMs?: number;
}

const ID = "copilot-lsp.copilot-lsp";

async function waitFor<T>(what: string, get: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const started = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const value = await get();
      if (value) {
        return value;
      }
    } catch (error) {
      last = error;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last})` : ""}\n${dump()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

let cachedApi: Api | undefined;

async function api(): Promise<Api> {
  if (!cachedApi) {
    const extension = vscode.extensions.getExtension<Api>(ID);
    assert.ok(extension, `the extension ${ID} is loaded`);
    cachedApi = await extension.activate();
  }
  return cachedApi;
}

function state() {
  return cachedApi?.state();
}

/** The extension's state, for a failure message. */
function dump(): string {
  const s = state();
  if (!s) {
    return "(the extension is not active)";
  }
  const { status, text, pid, restarts, lastAnswer, lastShown, streaming } = s;
  return JSON.stringify({ status, text, pid, restarts, lastAnswer, lastShown, streaming, events: s.events.slice(-12) })
    + `\ntrace:\n  ${s.trace.slice(-40).join("\n  ")}\nserver log:\n  ${s.log.filter((l) => !/llama_cpp/.test(l)).slice(-15).join("\n  ")}`;
}

async function ready(): Promise<ReturnType<Api["state"]>> {
  const a = await api();
  return waitFor("the server to be ready", () => {
    const s = a.state();
    return s.status.phase === "ready" && (s.pid !== undefined || s.address !== undefined) && s;
  }, 90_000);
}

function folder(): string {
  const folders = vscode.workspace.workspaceFolders;
  assert.ok(folders && folders.length > 0, "a workspace folder");
  return folders[0].uri.fsPath;
}

let fileCounter = 0;

/** A new Python file (new text, so no cached answer) open in the editor, the cursor after
 * `TYPED` on its last line. */
async function freshEditor(name: string): Promise<vscode.TextEditor> {
  fileCounter++;
  const file = path.join(folder(), `${name}_${fileCounter}.py`);
  const source = SOURCE.replace("list_files", `list_${name}_${fileCounter}`) + TYPED;
  fs.writeFileSync(file, source);
  const document = await vscode.workspace.openTextDocument(file);
  assert.equal(document.languageId, "python");
  const editor = await vscode.window.showTextDocument(document);
  const end = document.lineAt(document.lineCount - 1).range.end;
  editor.selection = new vscode.Selection(end, end);
  return editor;
}

async function update(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration("copilotLsp").update(key, value, vscode.ConfigurationTarget.Global);
}

function globalValue<T>(key: string): T | undefined {
  return vscode.workspace.getConfiguration("copilotLsp").inspect<T>(key)?.globalValue;
}

/** Ask for a suggestion at the cursor and wait until the model's final text is what the
 * provider returned (it streams in first). */
async function suggest(editor: vscode.TextEditor) {
  const a = await api();
  await ready();
  const uri = editor.document.uri.toString();
  await vscode.commands.executeCommand("copilotLsp.trigger");
  return waitFor("a suggestion, streamed to its end and shown", () => {
    const stream = a.stream(uri);
    const cursor = editor.selection.active;
    const ok = stream !== undefined && stream.done && stream.text.length > 0 && stream.shown === stream.text
      && stream.place.version === editor.document.version && stream.place.line === cursor.line
      && stream.place.character === cursor.character;
    return ok ? stream : undefined;
  });
}

/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** After `change`: the error state with one message, and still the same `quietMs` later (no
 * new message, no retry). */
async function failedOnce(a: Api, change: () => Promise<void>, pattern: RegExp, quietMs = 4000): Promise<void> {
  const before = a.state().popups.length;
  await change();
  await waitFor("the error", () => a.state().status.phase === "error" && pattern.test(a.state().status.error ?? ""), 30_000);
  await waitFor("its message", () => a.state().popups.length === before + 1, 10_000);
  const { restarts } = a.state();
  await new Promise((resolve) => setTimeout(resolve, quietMs));
  const s = a.state();
  assert.equal(s.popups.length, before + 1, `one message: ${JSON.stringify(s.popups.slice(before))}`);
  assert.match(s.popups[s.popups.length - 1], pattern);
  assert.equal(s.status.phase, "error", "no retry");
  assert.equal(s.restarts, restarts, "no restart");
  assert.match(s.text, /\$\(error\)/);
  assert.match(s.tooltip, pattern);
  assert.equal(a.client()?.isRunning() ?? false, false);
}

async function stats(): Promise<{ counts: Record<string, number>; next_edit?: Record<string, unknown> }> {
  const client = (await api()).client();
  assert.ok(client, "a client");
  return client.sendRequest("copilot/stats", { recent: 0 });
}

/** The server's next-edit counts (copilot/stats next_edit). */
async function nextEditCounts(): Promise<Record<string, number>> {
  const counts = (await stats()).next_edit ?? {};
  return Object.fromEntries(Object.entries(counts).filter(([, v]) => typeof v === "number")) as Record<string, number>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A module whose parameter `price` the next-edit case renames to `amount`. */
const PRICING = [
  "def net_price(price, rate):",
  "    taxed = price * (1 + rate)",
  "    return round(price, 2) + taxed * 0",
  "",
].join("\n");

function nextEditDump(a: Api): string {
  const n = a.nextEdit();
  return JSON.stringify({ ...n, trace: undefined }) + `\nnext-edit trace:\n  ${n.trace.slice(-20).join("\n  ")}`;
}

export const cases: Case[] = [
  {
    name: "activates, starts the server with the settings as initializationOptions",
    timeoutMs: 120_000,
    fn: async () => {
      const s = await ready();
      assert.match(s.text, /copilot-lsp/);
      // The status bar item went through starting, loading the model (with the server's
      // work-done progress message), ready.
      const phases = s.phases.join(" | ");
      assert.match(phases, /starting \| loading.*\| loading: loading copilot-default\.gguf \| ready/, `${phases}\n${dump()}`);
      assert.deepEqual(s.initializationOptions, {
        completion: { debounce_ms: 0, max_prefill_ms: 0, max_decode_ms: 0 },
        cache: { prefetch: false },
      });
    },
  },
  {
    name: "contributes its commands and settings",
    fn: async () => {
      const commands = await vscode.commands.getCommands(true);
      for (const name of ["toggle", "trigger", "generate", "showStats", "openLog", "restart", "menu"]) {
        assert.ok(commands.includes(`copilotLsp.${name}`), name);
      }
      const config = vscode.workspace.getConfiguration("copilotLsp");
      assert.equal(config.inspect("enable")?.defaultValue, true);
      assert.equal(config.inspect("maxLines")?.defaultValue, 4);
      assert.equal(config.inspect("debounceMs")?.defaultValue, 75);
      assert.equal(config.inspect("logLevel")?.defaultValue, "info");
      assert.equal(config.inspect("remote.enabled")?.defaultValue, false);
      assert.equal(config.inspect("model")?.defaultValue, "");
      assert.equal(config.inspect("server.address")?.defaultValue, "");
    },
  },
  {
    name: "a suggestion streams in through VS Code's inline completion and is accepted",
    timeoutMs: 120_000,
    fn: async () => {
      const a = await api();
      await ready();
      const editor = await freshEditor("accept");
      const before = a.state().streaming;
      const stream = await suggest(editor);
      // The model wrote it: the provider answered with the first partial text, then the
      // final text came by re-triggering it.
      const after = a.state().streaming;
      assert.ok(after.early > before.early, `an early (streamed) answer: ${JSON.stringify([before, after])}`);
      assert.ok(after.retriggers > before.retriggers, `a re-trigger: ${JSON.stringify([before, after])}`);
      assert.equal(a.state().lastAnswer?.fromCache, false);
      assert.equal(a.state().lastShown?.text, stream.text);
      const line = editor.document.lineCount - 1;
      const expected = TYPED + stream.text;
      // VS Code renders the provider's answer asynchronously: on a busy machine a commit can
      // come before the ghost text is up and do nothing, so commit again until it lands.
      let lastCommit = 0;
      await waitFor("the suggestion in the document", async () => {
        if (editor.document.getText().endsWith(expected)) {
          return true;
        }
        if (Date.now() - lastCommit > 500) {
          lastCommit = Date.now();
          await vscode.commands.executeCommand("editor.action.inlineSuggest.commit");
        }
        return false;
      }, 30_000);
      assert.equal(editor.document.lineAt(line - stream.text.split("\n").length + 1).text.startsWith(TYPED), true);
      await waitFor("the shown and accepted events", () => {
        const events = a.state().events.filter((e) => e.requestId === stream.requestId).map((e) => e.event);
        return events.includes("shown") && events.includes("accepted");
      });
      const counts = await waitFor("the server counting them", async () => {
        const c = (await stats()).counts;
        return (c.events_shown ?? 0) >= 1 && (c.events_accepted ?? 0) >= 1 && c;
      });
      assert.equal(counts.events_ignored ?? 0, 0, JSON.stringify(counts));
      assert.match(a.state().text, /copilot-lsp \d/); // the last latency in the status bar
    },
  },
  {
    name: "the same place again is answered by the cache",
    fn: async () => {
      const a = await api();
      const editor = await freshEditor("cache");
      const first = await suggest(editor);
      await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
      a.state(); // the stream is kept: ask the server again through the trigger command
      const second = await suggest(editor);
      assert.equal(second.text, first.text);
      await waitFor("an answer from the cache", () => a.state().lastAnswer?.fromCache === true, 30_000);
      assert.match(a.state().text, /\(cache\)/);
    },
  },
  {
    name: "typing something else dismisses the suggestion",
    fn: async () => {
      const a = await api();
      const editor = await freshEditor("dismiss");
      const stream = await suggest(editor);
      const other = stream.text.startsWith("Z") ? "Q" : "Z";
      await vscode.commands.executeCommand("type", { text: other });
      await waitFor("a dismissed event", () => a.state().events.some((e) => e.requestId === stream.requestId && e.event === "dismissed"));
      await waitFor("the server counting it", async () => ((await stats()).counts.events_dismissed ?? 0) >= 1);
    },
  },
  {
    name: "typing the start of the suggestion keeps it (a partial acceptance)",
    fn: async () => {
      const a = await api();
      const editor = await freshEditor("typing");
      const stream = await suggest(editor);
      await vscode.commands.executeCommand("type", { text: stream.text[0] });
      // The tracker keeps the suggestion while it is typed through; when the next one comes
      // (the server's answer for the new text), the typed character counts as partly accepted.
      await waitFor("a partial acceptance of one character", () =>
        a.state().events.some((e) => e.requestId === stream.requestId && e.event === "partial" && e.acceptedChars === 1));
      assert.ok(!a.state().events.some((e) => e.requestId === stream.requestId && e.event === "dismissed"));
    },
  },
  {
    name: "Escape (copilotLsp.dismiss) hides it and reports it dismissed",
    fn: async () => {
      const a = await api();
      const editor = await freshEditor("escape");
      const stream = await suggest(editor);
      await vscode.commands.executeCommand("copilotLsp.dismiss");
      await waitFor("a dismissed event", () => a.state().events.some((e) => e.requestId === stream.requestId && e.event === "dismissed"));
    },
  },
  {
    name: "explicit generation (copilot/generate) shows its text as the suggestion",
    fn: async () => {
      const a = await api();
      const editor = await freshEditor("generate");
      const answer = await vscode.commands.executeCommand<{ text: string; route: string; requestId: number }>("copilotLsp.generate");
      assert.ok(answer, "an answer");
      assert.equal(answer.route, "local"); // no remote model configured
      assert.equal(typeof answer.requestId, "number");
      assert.ok(answer.text.length > 0, "a generated text");
      const uri = editor.document.uri.toString();
      await waitFor("the generated text shown", () => a.stream(uri)?.shown === answer.text && a.state().lastShown?.text === answer.text);
      assert.match(a.state().tooltip, /from the local/);
    },
  },
  {
    name: "next edit: a renamed parameter's other occurrences are shown, jumped to with Tab's command, accepted and dismissed",
    timeoutMs: 120_000,
    fn: async () => {
      const a = await api();
      await ready();
      // The keys and the settings it contributes.
      const contributes = vscode.extensions.getExtension(ID)!.packageJSON.contributes;
      const keys = (contributes.keybindings as { command: string; key: string; when: string }[])
        .filter((k) => k.command.startsWith("copilotLsp.nextEdit."));
      const tab = keys.filter((k) => k.key === "tab").map((k) => k.command).sort();
      assert.deepEqual(tab, ["copilotLsp.nextEdit.accept", "copilotLsp.nextEdit.jump"]);
      assert.ok(keys.filter((k) => k.key === "tab").every((k) => /copilotLsp\.nextEditVisible/.test(k.when) && /!inlineSuggestionVisible/.test(k.when)));
      assert.ok(keys.some((k) => k.key === "escape" && k.command === "copilotLsp.nextEdit.dismiss"));
      const commands = await vscode.commands.getCommands(true);
      for (const name of ["jump", "accept", "dismiss"]) {
        assert.ok(commands.includes(`copilotLsp.nextEdit.${name}`), name);
      }
      assert.equal(vscode.workspace.getConfiguration("copilotLsp").inspect("nextEdit.enabled")?.defaultValue, true);
      assert.equal(contributes.enabledApiProposals, undefined);
      assert.equal(vscode.extensions.getExtension(ID)!.packageJSON.enabledApiProposals, undefined);

      fileCounter++;
      const file = path.join(folder(), `pricing_${fileCounter}.py`);
      fs.writeFileSync(file, PRICING);
      const document = await vscode.workspace.openTextDocument(file);
      const editor = await vscode.window.showTextDocument(document);
      const uri = document.uri.toString();
      const at = (line: number, character: number) => new vscode.Position(line, character);
      const before = await nextEditCounts();
      // Retype `price` (line 0, characters 14-19) as `amount`, key by key, as a user would.
      editor.selection = new vscode.Selection(at(0, 19), at(0, 19));
      for (let end = 19; end > 14; end--) {
        assert.ok(await editor.edit((b) => b.delete(new vscode.Range(at(0, end - 1), at(0, end)))));
        editor.selection = new vscode.Selection(at(0, end - 1), at(0, end - 1));
        await sleep(20);
      }
      for (const [i, char] of [..."amount"].entries()) {
        assert.ok(await editor.edit((b) => b.insert(at(0, 14 + i), char)));
        editor.selection = new vscode.Selection(at(0, 15 + i), at(0, 15 + i));
        await sleep(20);
      }
      assert.equal(document.lineAt(0).text, "def net_price(amount, rate):");

      // The nearest other occurrence is shown where it is, and the context key for Tab is set.
      const first = await waitFor("the next edit on line 2", () => {
        const n = a.nextEdit();
        return n.shown?.text === "amount" && n.shown.start.line === 1 && n.visible && n.decoratedEditors >= 1 && n;
      }, 30_000).catch((error) => { throw new Error(`${error}\n${nextEditDump(a)}`); });
      assert.equal(first.shown!.uri, uri);
      assert.deepEqual([first.shown!.start, first.shown!.end], [{ line: 1, character: 12 }, { line: 1, character: 17 }]);
      assert.equal(first.shown!.version, document.version);
      assert.equal(first.atCursor, false, "the cursor is on line 1: Tab jumps");
      const firstId = first.shown!.requestId!;
      assert.equal(typeof firstId, "number");
      assert.ok(first.events.some((e) => e.requestId === firstId && e.event === "shown"));

      // Tab once: the cursor goes to the edit (and Tab now accepts).
      await vscode.commands.executeCommand("copilotLsp.nextEdit.jump");
      assert.deepEqual([editor.selection.active.line, editor.selection.active.character], [1, 12]);
      assert.ok(editor.selection.isEmpty);
      assert.equal(a.nextEdit().atCursor, true, nextEditDump(a));
      assert.equal(a.nextEdit().shown?.requestId, firstId, "still shown after the jump");

      // Tab again: the edit goes in, there and only there; the next occurrence comes.
      await vscode.commands.executeCommand("copilotLsp.nextEdit.accept");
      assert.equal(document.getText(), PRICING.replace("(price,", "(amount,").replace("= price *", "= amount *"));
      assert.deepEqual([editor.selection.active.line, editor.selection.active.character], [1, 18], "the cursor after the new text");
      const second = await waitFor("the next edit on line 3", () => {
        const n = a.nextEdit();
        return n.shown?.text === "amount" && n.shown.start.line === 2 && n.shown.requestId !== firstId && n;
      }, 30_000).catch((error) => { throw new Error(`${error}\n${nextEditDump(a)}`); });
      assert.deepEqual([second.shown!.start, second.shown!.end], [{ line: 2, character: 17 }, { line: 2, character: 22 }]);
      const secondId = second.shown!.requestId!;
      assert.ok(a.nextEdit().events.some((e) => e.requestId === firstId && e.event === "accepted"));

      // Escape: hidden, the text untouched, reported rejected.
      const text = document.getText();
      await vscode.commands.executeCommand("copilotLsp.nextEdit.dismiss");
      const dismissed = a.nextEdit();
      assert.equal(dismissed.shown, undefined);
      assert.equal(dismissed.visible, false);
      assert.equal(dismissed.decoratedEditors, 0);
      assert.equal(document.getText(), text);
      assert.ok(dismissed.events.some((e) => e.requestId === secondId && e.event === "rejected"));
      assert.equal(dismissed.events.filter((e) => e.requestId === firstId && e.event === "shown").length, 1, "shown once per request");

      let last: Record<string, number> = {};
      const counts = await waitFor("the server counting the events", async () => {
        const c = (last = await nextEditCounts());
        const more = (key: string) => (c[key] ?? 0) - (before[key] ?? 0);
        return more("events_shown") >= 2 && more("events_accepted") >= 1 && more("events_rejected") >= 1 && c;
      }, 20_000).catch((error) => { throw new Error(`${error}\nbefore: ${JSON.stringify(before)}\nlast: ${JSON.stringify(last)}\n${nextEditDump(a)}`); });
      assert.ok((counts.kind_rename ?? 0) >= 2, JSON.stringify(counts));
      assert.equal(counts.events_ignored ?? 0, 0, JSON.stringify(counts));
    },
  },
  {
    name: "next edit: a function renamed in one file is offered in the file that imports it, as a hint, and Tab's jump opens it",
    timeoutMs: 120_000,
    fn: async () => {
      const a = await api();
      await ready();
      fileCounter++;
      const lib = path.join(folder(), `taxes_${fileCounter}.py`);
      const main = path.join(folder(), `checkout_${fileCounter}.py`);
      fs.writeFileSync(lib, PRICING);
      const mainText = `from taxes_${fileCounter} import net_price\n\n\nprint(net_price(10, 0.2))\n`;
      fs.writeFileSync(main, mainText);
      const mainDocument = await vscode.workspace.openTextDocument(main); // open (the server sees it), not shown
      const document = await vscode.workspace.openTextDocument(lib);
      const editor = await vscode.window.showTextDocument(document);
      const at = (line: number, character: number) => new vscode.Position(line, character);
      // Retype `net_price` (line 0, characters 4-13) as `price_after_tax`: select it, type over it.
      editor.selection = new vscode.Selection(at(0, 4), at(0, 13));
      assert.ok(await editor.edit((b) => b.replace(new vscode.Range(at(0, 4), at(0, 13)), "p")));
      for (const [i, char] of [..."rice_after_tax"].entries()) {
        editor.selection = new vscode.Selection(at(0, 5 + i), at(0, 5 + i));
        assert.ok(await editor.edit((b) => b.insert(at(0, 5 + i), char)));
        await sleep(10);
      }
      editor.selection = new vscode.Selection(at(0, 19), at(0, 19));
      const shown = await waitFor("the next edit in the importing file", () => {
        const n = a.nextEdit();
        return n.shown?.uri === mainDocument.uri.toString() && n.shown.text === "price_after_tax" && n;
      }, 30_000).catch((error) => { throw new Error(`${error}\n${nextEditDump(a)}`); });
      const column = mainText.indexOf("net_price");
      assert.deepEqual([shown.shown!.start, shown.shown!.end], [{ line: 0, character: column }, { line: 0, character: column + 9 }]);
      assert.equal(shown.decoratedEditors, 0, "that file is not on screen");
      assert.equal(shown.hint, `Tab ⇥ checkout_${fileCounter}.py:1: net_price → price_after_tax`);
      assert.equal(shown.visible, true);

      await vscode.commands.executeCommand("copilotLsp.nextEdit.jump");
      const active = vscode.window.activeTextEditor;
      assert.equal(active?.document.uri.toString(), mainDocument.uri.toString(), "the importing file in the editor");
      assert.deepEqual([active!.selection.active.line, active!.selection.active.character], [shown.shown!.start.line, shown.shown!.start.character]);
      const there = a.nextEdit();
      assert.ok(there.decoratedEditors >= 1 && there.hint === undefined && there.atCursor, nextEditDump(a));
      await vscode.commands.executeCommand("copilotLsp.nextEdit.accept");
      assert.equal(mainDocument.getText(), mainText.replace("import net_price", "import price_after_tax"));
      // And the use below the import comes next, in that file.
      const next = await waitFor("the use of the function next", () => {
        const n = a.nextEdit();
        return n.shown?.uri === mainDocument.uri.toString() && n.shown.start.line === 3 && n;
      }, 30_000).catch(async (error) => { throw new Error(`${error}\n${JSON.stringify(await nextEditCounts())}\n${nextEditDump(a)}`); });
      assert.equal(next.shown!.text, "price_after_tax");
      await vscode.commands.executeCommand("copilotLsp.nextEdit.dismiss");
      assert.equal(a.nextEdit().visible, false);
    },
  },
  {
    name: "toggle turns suggestions off (no request reaches the server) and on",
    fn: async () => {
      const a = await api();
      await ready();
      const editor = await freshEditor("toggle");
      const enabled = await vscode.commands.executeCommand<boolean>("copilotLsp.toggle");
      assert.equal(enabled, false);
      await waitFor("the status to say off", () => /: off/.test(a.state().text), 30_000);
      const before = (await stats()).counts.requests;
      await vscode.commands.executeCommand("copilotLsp.trigger");
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal((await stats()).counts.requests, before, "no request while off");
      assert.equal(a.stream(editor.document.uri.toString()), undefined);
      assert.equal(await vscode.commands.executeCommand<boolean>("copilotLsp.toggle"), true);
      await waitFor("the status to say on", () => !/: off/.test(a.state().text), 30_000);
      await suggest(editor);
      await update("enable", undefined);
    },
  },
  {
    name: "suggestions can be off for one language",
    fn: async () => {
      const a = await api();
      await freshEditor("language");
      await update("languages", { python: false });
      await waitFor("the status to say off for python", () => /off for python/.test(a.state().text), 30_000);
      await update("languages", undefined);
      await waitFor("on again", () => !/off/.test(a.state().text), 30_000);
    },
  },
  {
    name: "completion and log settings go to the server without a restart",
    fn: async () => {
      const a = await api();
      const { pid, restarts } = await ready();
      await update("logLevel", "debug");
      const editor = await freshEditor("live");
      await suggest(editor);
      await waitFor("debug lines in the server's log", () => a.state().log.some((line) => / DEBUG /.test(line)), 30_000);
      assert.equal(a.state().pid, pid);
      assert.equal(a.state().restarts, restarts);
    },
  },
  {
    name: "a setting back at its default, or one the server reads at start, restarts it",
    timeoutMs: 180_000,
    fn: async () => {
      const a = await api();
      const { pid, restarts } = await ready();
      await update("logLevel", undefined); // went back to the default: a restart
      await waitFor("a restart", () => a.state().restarts === restarts + 1);
      const second = await ready();
      assert.notEqual(second.pid, pid);
      const extension = vscode.extensions.getExtension(ID)!;
      const model = path.resolve(extension.extensionPath, "..", "..", "models", "default", "copilot-default.gguf");
      await update("model", model);
      await waitFor("another restart", () => a.state().restarts === restarts + 2);
      const third = await ready();
      assert.notEqual(third.pid, second.pid);
      assert.deepEqual((third.initializationOptions as { model?: unknown }).model, { path: model });
      await suggest(await freshEditor("model"));
      await update("model", undefined);
      await waitFor("a restart without it", () => a.state().restarts === restarts + 3);
      await ready();
    },
  },
  {
    name: "a crashed server is restarted, after a delay",
    timeoutMs: 120_000,
    fn: async () => {
      const a = await api();
      const { pid } = await ready();
      process.kill(pid!, "SIGKILL");
      await waitFor("the error state", () => a.state().status.phase === "error" && a.state(), 30_000);
      assert.match(a.state().status.error ?? "", /stopped \(killed by SIGKILL\); restarting in 1 s/);
      assert.match(a.state().text, /\$\(error\)/);
      const back = await ready();
      assert.notEqual(back.pid, pid);
      await suggest(await freshEditor("crash"));
    },
  },
  {
    name: "a server that cannot be found is reported, and found again",
    timeoutMs: 120_000,
    fn: async () => {
      const a = await api();
      await ready();
      const original = globalValue<string[]>("server.command");
      await update("server.command", ["/nonexistent/bin/copilot-lsp", "serve"]);
      await waitFor("the error", () => a.state().status.phase === "error", 30_000);
      assert.match(a.state().status.error ?? "", /server was not found \(tried \/nonexistent\/bin\/copilot-lsp \(copilotLsp\.server\.command\)\)/);
      assert.match(a.state().tooltip, /not found/);
      await update("server.command", original);
      await ready();
    },
  },
  {
    name: "a server that exits at once is restarted with growing delays",
    timeoutMs: 120_000,
    fn: async () => {
      const a = await api();
      await ready();
      const original = globalValue<string[]>("server.command");
      await update("server.command", ["/bin/sh", "-c", "echo 'no model here' >&2; exit 3"]);
      // How the exit is described depends on whether the process's exit status (and its
      // stderr) arrived before the connection's close was handled: wait for the restarts, then
      // for the reason (the server's last stderr line) in one of the messages.
      const seen: string[] = [];
      const status = (): string => {
        const error = a.state().status.error ?? "";
        if (error && seen[seen.length - 1] !== error) seen.push(error);
        return error;
      };
      await waitFor("the error", () => /restarting in 1 s/.test(status()), 30_000);
      await waitFor("the second try", () => /restarting in 2 s/.test(status()), 30_000);
      await waitFor("the reason (the server's last stderr line)", () => {
        status();
        return seen.some((message) => message.includes("no model here"));
      }, 30_000);
      await update("server.command", original);
      await ready();
    },
  },
  {
    name: "restart, statistics and log commands",
    fn: async () => {
      const { pid } = await ready();
      await vscode.commands.executeCommand("copilotLsp.restart");
      const after = await ready();
      assert.notEqual(after.pid, pid);
      await suggest(await freshEditor("stats"));
      const shown = await vscode.commands.executeCommand<{ counts: Record<string, number> }>("copilotLsp.showStats");
      assert.ok(shown && shown.counts.requests >= 1, JSON.stringify(shown));
      const page = await waitFor("the statistics page", () =>
        vscode.workspace.textDocuments.find((d) => d.uri.scheme === "copilot-lsp"));
      assert.match(page.getText(), /# copilot-lsp statistics/);
      await vscode.commands.executeCommand("copilotLsp.openLog");
    },
  },
  // Over TCP: test_vscode.py started `make run` (copilot-lsp serve --tcp on a free port, with
  // private XDG folders) before VS Code, and gives the setting and value of its banner's
  // "VS Code: set SETTING to VALUE" line; one connection to that server, in the third case.
  {
    name: "over TCP: a malformed copilotLsp.server.address is one error, and nothing starts",
    fn: async () => {
      const a = await api();
      await ready();
      await failedOnce(a, () => update("server.address", "127.0.0.1"), /copilotLsp\.server\.address must be HOST:PORT .*got "127\.0\.0\.1"/, 1000);
      assert.equal(a.state().pid, undefined, "no server spawned");
    },
  },
  {
    name: "over TCP: an address where nothing listens is one message, with no retries",
    fn: async () => {
      const a = await api();
      const port = await deadPort();
      await failedOnce(a, () => update("server.address", `127.0.0.1:${port}`), new RegExp(`cannot connect to the server at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
    },
  },
  {
    name: "over TCP: a server that closes the connection at once is one message, with no retries",
    fn: async () => {
      const a = await api();
      const server = net.createServer((socket) => socket.destroy());
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as net.AddressInfo;
      try {
        const pattern = new RegExp(`the (server|connection to the server) at 127\\.0\\.0\\.1:${port} (did not answer initialize|closed)`);
        await failedOnce(a, () => update("server.address", `127.0.0.1:${port}`), pattern);
      } finally {
        server.close();
      }
    },
  },
  {
    name: "over TCP: the setting make run's banner prints connects to that server, and a suggestion comes through it",
    timeoutMs: 180_000,
    fn: async () => {
      const setting = process.env.COPILOT_TCP_SETTING;
      const value = process.env.COPILOT_TCP_VALUE;
      assert.ok(setting && value, "COPILOT_TCP_SETTING and COPILOT_TCP_VALUE (tests/editors/test_vscode.py sets them)");
      const a = await api();
      await vscode.workspace.getConfiguration().update(setting, value, vscode.ConfigurationTarget.Global);
      await waitFor(`${setting} to be the extension's address setting`, () => a.state().settings.server.address === value, 10_000);
      const s = await ready();
      assert.equal(s.address, value, "connected to it");
      assert.equal(s.pid, undefined, "nothing spawned");
      assert.match(s.tooltip, new RegExp(`Server: ${value.replace(/\./g, "\\.")} \\(TCP`));
      const editor = await freshEditor("tcp");
      const stream = await suggest(editor);
      assert.ok(stream.text.length > 0);
      assert.equal(a.state().lastShown?.text, stream.text, "shown through VS Code's inline completion");
      await waitFor("the server counting it", async () => ((await stats()).counts.requests ?? 0) >= 1);
      assert.equal(a.state().address, value, "still the same connection");
    },
  },
  {
    name: "over TCP: an empty address starts the extension's own server again",
    timeoutMs: 120_000,
    fn: async () => {
      const a = await api();
      await update("server.address", undefined);
      await waitFor("a spawned server", () => a.state().status.phase === "ready" && a.state().pid !== undefined, 90_000);
      assert.equal(a.state().address, undefined);
      await suggest(await freshEditor("spawned"));
    },
  },
];
