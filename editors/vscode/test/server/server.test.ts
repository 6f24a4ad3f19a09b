// The real Python server over stdio, driven with vscode-languageserver-protocol (the library
// vscode-languageclient is built on): initialize, the capabilities the extension relies on,
// an inline completion streamed as partials, explicit generation, events and statistics.
// The server command comes from COPILOT_LSP_CMD (JSON list), else the checkout's .venv.
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import {
  createProtocolConnection,
  InitializeRequest,
  InitializeResult,
  InlineCompletionList,
  InlineCompletionRequest,
  ProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from "vscode-languageserver-protocol/node";
import { initializationOptions, defaultSettings } from "../../src/config";
import { SOURCE } from "../fixture";
import { Partial, Streams } from "../../src/streaming";

const ROOT = path.resolve(__dirname, "..", "..", "..", "..", "..");
const COMMAND: string[] = process.env.COPILOT_LSP_CMD
  ? JSON.parse(process.env.COPILOT_LSP_CMD)
  : [path.join(ROOT, ".venv", "bin", "copilot-lsp"), "serve"];
const TIMEOUT = 120_000;

function waitFor<T>(what: string, get: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      const value = get();
      if (value) {
        resolve(value);
      } else if (Date.now() - started > timeoutMs) {
        reject(new Error(`timed out waiting for ${what}`));
      } else {
        setTimeout(poll, 20);
      }
    };
    poll();
  });
}

describe("the copilot-lsp server over stdio", { timeout: 300_000 }, () => {
  let server: ChildProcess;
  let connection: ProtocolConnection;
  let init: InitializeResult;
  let stderr = "";
  const partials: Partial[] = [];
  const progress: { kind: string; message?: string }[] = [];
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "copilot-lsp-vscode-"));
  const project = path.join(home, "project");
  const file = path.join(project, "walk.py");
  const uri = pathToFileURL(file).toString();

  before(async () => {
    fs.mkdirSync(project);
    fs.writeFileSync(file, SOURCE);
    const env = { ...process.env };
    for (const name of ["XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"]) {
      env[name] = path.join(home, name.toLowerCase());
    }
    server = spawn(COMMAND[0], COMMAND.slice(1), { cwd: project, env, stdio: ["pipe", "pipe", "pipe"] });
    server.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    connection = createProtocolConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
    connection.onNotification("copilot/partialCompletion", (params: Partial) => {
      partials.push(params);
    });
    connection.onRequest(WorkDoneProgressCreateRequest.method, ({ token }: { token: string }) => {
      connection.onProgress(WorkDoneProgress.type, token, (value) => {
        progress.push(value);
      });
      return null;
    });
    connection.listen();
    // What the extension sends with its settings at their defaults, plus the harness's
    // settings that keep a slow shared machine from cutting answers short.
    const options = initializationOptions({
      ...defaultSettings(),
      maxLines: 1,
      serverSettings: { completion: { max_prefill_ms: 0, max_decode_ms: 0, debounce_ms: 0 }, cache: { prefetch: false } },
    });
    init = await connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: pathToFileURL(project).toString(),
      workspaceFolders: [{ uri: pathToFileURL(project).toString(), name: "project" }],
      capabilities: { window: { workDoneProgress: true }, textDocument: { inlineCompletion: { dynamicRegistration: false } } },
      initializationOptions: options,
    });
    await connection.sendNotification("initialized", {});
    await connection.sendNotification("textDocument/didOpen", {
      textDocument: { uri, languageId: "python", version: 1, text: SOURCE },
    });
  });

  after(async () => {
    try {
      await connection.sendRequest("shutdown");
      await connection.sendNotification("exit");
    } catch {
      // the test failed with the server gone
    }
    await new Promise((resolve) => {
      const timer = setTimeout(() => {
        server.kill("SIGKILL");
        resolve(undefined);
      }, 10_000);
      server.on("exit", () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
    connection.dispose();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("advertises inline completion and the accept command", () => {
    assert.ok(init.capabilities.inlineCompletionProvider, "inlineCompletionProvider");
    // the inline completion's and the next edit's acceptance
    assert.deepEqual(
      [...(init.capabilities.executeCommandProvider?.commands ?? [])].sort(),
      ["copilot.accepted", "copilot.inlineEditAccepted"],
    );
    assert.equal(init.serverInfo?.name, "copilot-lsp");
  });

  it("reports the model loading as work-done progress", { timeout: TIMEOUT }, async () => {
    await waitFor("the end of the loading progress", () => progress.find((p) => p.kind === "end"));
    assert.equal(progress[0].kind, "begin");
    assert.match(progress[0].message ?? "", /loading .*\.gguf/);
    assert.match(progress.find((p) => p.kind === "end")?.message ?? "", /ready/);
  });

  it("answers an inline completion, streamed as copilot/partialCompletion", { timeout: TIMEOUT }, async () => {
    // A new statement in the loop body, typed as an incremental change (as VS Code sends it).
    await connection.sendNotification("textDocument/didChange", {
      textDocument: { uri, version: 2 },
      contentChanges: [{ range: { start: { line: 7, character: 0 }, end: { line: 7, character: 0 } }, text: "            if" }],
    });
    const position = { line: 7, character: 14 };
    const streams = new Streams();
    const stream = streams.begin({ uri, version: 2, ...position });
    const seen: Partial[] = [];
    connection.onNotification("copilot/partialCompletion", (params: Partial) => {
      partials.push(params);
      if (streams.partial(params)) {
        seen.push(params);
      }
    });
    const result = (await connection.sendRequest(InlineCompletionRequest.type, {
      textDocument: { uri },
      position,
      context: { triggerKind: 2 },
    })) as InlineCompletionList;
    assert.equal(result.items.length, 1, `one item: ${JSON.stringify(result)}`);
    const item = result.items[0];
    const insert = typeof item.insertText === "string" ? item.insertText : item.insertText.value;
    assert.ok(insert.length > 0, "a non-empty suggestion");
    assert.deepEqual(item.range, { start: position, end: position });
    const requestId = item.command?.arguments?.[0];
    assert.equal(item.command?.command, "copilot.accepted");
    assert.equal(typeof requestId, "number");
    // The partials came before the answer, for this document version and request, and the
    // last one (done) carries the final text: what the extension's stream store shows.
    assert.ok(seen.length >= 1, "partials before the answer");
    for (const partial of seen) {
      assert.equal(partial.requestId, requestId);
      assert.equal(partial.version, 2);
    }
    const last = seen[seen.length - 1];
    assert.equal(last.done, true);
    assert.equal(last.text, insert);
    assert.equal(stream.text, insert);
    assert.equal(stream.requestId, requestId);

    // The same request again: the cache answers, with no partials (how the extension tells
    // a cached answer from a generated one).
    const before = partials.length;
    const again = (await connection.sendRequest(InlineCompletionRequest.type, {
      textDocument: { uri },
      position,
      context: { triggerKind: 2 },
    })) as InlineCompletionList;
    assert.equal(again.items[0]?.insertText, insert);
    assert.equal(partials.length, before, "no partials for a cached answer");

    // The editor's events reach the server's local metrics.
    await connection.sendNotification("copilot/completionEvent", { requestId, event: "shown" });
    await connection.sendNotification("copilot/completionEvent", { requestId, event: "accepted", acceptedChars: insert.length });
    const counted = await connection.sendRequest<{ counts: Record<string, number>; acceptance: Record<string, unknown> }>(
      "copilot/stats",
      { recent: 5 },
    );
    assert.equal(counted.counts.events_shown, 1, JSON.stringify(counted.counts));
    assert.equal(counted.counts.events_accepted, 1, JSON.stringify(counted.counts));
    assert.ok(counted.counts.requests >= 2);
  });

  it("generates explicitly with copilot/generate", { timeout: TIMEOUT }, async () => {
    const result = await connection.sendRequest<{ requestId: number; text: string; route: string; reason: string }>(
      "copilot/generate",
      { textDocument: { uri }, position: { line: 7, character: 14 } },
    );
    assert.equal(typeof result.requestId, "number");
    assert.equal(result.route, "local", JSON.stringify(result)); // no remote model configured
    // Its text also came as the done partial of that request id.
    const done = partials.find((p) => p.requestId === result.requestId && p.done);
    assert.ok(done, "a done partial for the generation");
    assert.equal(done.text, result.text);
  });

  it("rejects settings it does not know, and keeps running", { timeout: TIMEOUT }, async () => {
    await connection.sendNotification("workspace/didChangeConfiguration", { settings: { completion: { no_such_key: 1 } } });
    await connection.sendNotification("workspace/didChangeConfiguration", { settings: { completion: { max_lines: 2 } } });
    const stats = await connection.sendRequest<{ counts: Record<string, number> }>("copilot/stats", { recent: 0 });
    assert.ok(stats.counts.requests >= 2);
    await waitFor("the rejection in the log", () => /no_such_key/.test(stderr), 10_000);
  });
});
