// copilot-lsp for VS Code: starts `copilot-lsp serve` (stdio), or connects to a running
// `copilot-lsp serve --tcp HOST:PORT` (copilotLsp.server.address), lets vscode-languageclient
// register the inline completion provider the server advertises, and adds the settings,
// the status bar item, the commands, streaming and the editor events.
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as vscode from "vscode";
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  StaticFeature,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from "vscode-languageclient/node";
import { connect, parseAddress } from "./address";
import { Backoff } from "./backoff";
import { resolveServerCommand } from "./command";
import { changePlan, defaultSettings, initializationOptions, languageEnabled, LogLevel, Settings } from "./config";
import { CompletionEvent } from "./events";
import { ACCEPT_COMMAND, Answer, Inline } from "./inline";
import { LineSplitter, parseLogLine } from "./log";
import { NextEdits, NextEditState } from "./nextEdit";
import { Partial, Stream } from "./streaming";
import { renderStats, StatusState, statusView } from "./status";

const SECTION = "copilotLsp";
const STATS_URI = vscode.Uri.parse("copilot-lsp:statistics.md");

/** What the extension's tests (and other extensions) can see. */
export interface Api {
  state(): {
    status: StatusState;
    text: string;
    tooltip: string;
    pid: number | undefined;
    /** The server connected to over TCP (copilotLsp.server.address), while connected. */
    address: string | undefined;
    settings: Settings;
    initializationOptions: object;
    restarts: number;
    events: CompletionEvent[];
    lastAnswer: Answer | undefined;
    /** The suggestion the provider returned last. */
    lastShown: { requestId: number; text: string } | undefined;
    streaming: { early: number; retriggers: number };
    /** The server's last log lines. */
    log: string[];
    /** What the inline provider did lately (for tests and bug reports). */
    trace: string[];
    /** The status bar item's last states, oldest first. */
    phases: string[];
    /** The error and warning messages shown, oldest first. */
    popups: string[];
  };
  client(): LanguageClient | undefined;
  /** Next-edit suggestions: the edit shown, the context keys, the events sent. */
  nextEdit(): NextEditState;
  /** The stream (request in flight or answered) of a document. */
  stream(uri: string): Stream | undefined;
}

function readSettings(): Settings {
  const config = vscode.workspace.getConfiguration(SECTION);
  const defaults = defaultSettings();
  // Values the user did not set stay undefined: the server's config.toml decides them.
  const explicit = <T>(key: string): T | undefined => {
    const found = config.inspect<T>(key);
    return found?.workspaceFolderValue ?? found?.workspaceValue ?? found?.globalValue;
  };
  return {
    enable: config.get<boolean>("enable", defaults.enable),
    languages: { ...defaults.languages, ...config.get<Record<string, boolean>>("languages", {}) },
    server: {
      command: config.get<string[]>("server.command", []),
      pythonPath: config.get<string>("server.pythonPath", ""),
      env: config.get<Record<string, string>>("server.env", {}),
      address: config.get<string>("server.address", "").trim(),
    },
    model: explicit<string>("model"),
    remoteEnabled: explicit<boolean>("remote.enabled"),
    debounceMs: explicit<number>("debounceMs"),
    maxLines: explicit<number>("maxLines"),
    logLevel: explicit<LogLevel>("logLevel"),
    serverSettings: config.get<Record<string, unknown>>("serverSettings", {}),
  };
}

/** vscode-languageclient shows a message of its own, whatever the options, when a start fails
 * (or a connection closes unhandled); the extension says so itself (the status bar item and
 * one message, see onClosed and connectionFailed), so those only go to the log. */
class Client extends LanguageClient {
  override error(message: string, data?: any, showNotification?: boolean | "force"): void {
    super.error(message, data, showNotification === "force" ? false : showNotification);
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

class Controller implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private settings = readSettings();
  private readonly status: StatusState = { phase: "stopped", enabled: true, alerts: [] };
  private readonly item: vscode.StatusBarItem;
  private readonly output: vscode.LogOutputChannel;
  private readonly inline: Inline;
  private readonly nextEdits: NextEdits;
  private readonly backoff = new Backoff();
  private restartTimer: NodeJS.Timeout | undefined;
  private closing = 0;
  private pid: number | undefined;
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }> | undefined;
  private generation = 0;
  private restarts = 0;
  private lastAnswer: Answer | undefined;
  private lastStderr: string[] = [];
  private readonly logTail: string[] = [];
  private readonly phases: string[] = [];
  private readonly popups: string[] = [];
  private progressSeen = false;
  private readonly statsChanged = new vscode.EventEmitter<vscode.Uri>();
  private statsPage = "";
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel("copilot-lsp", { log: true });
    this.item = vscode.window.createStatusBarItem("copilotLsp.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "copilot-lsp";
    this.item.command = "copilotLsp.menu";
    this.inline = new Inline({
      enabledFor: (languageId) => languageEnabled(this.settings, languageId),
      sendEvent: (event) => {
        if (this.client?.isRunning()) {
          void this.client.sendNotification("copilot/completionEvent", event);
        }
      },
      answered: (answer) => {
        this.lastAnswer = answer;
        this.status.lastLatencyMs = answer.latencyMs;
        this.status.lastFromCache = answer.fromCache;
        this.status.lastRoute = answer.explicit ? answer.route : undefined;
        this.render();
      },
    });
    this.nextEdits = new NextEdits({
      client: () => this.client,
      enabledFor: (languageId) => languageEnabled(this.settings, languageId),
    });
    this.disposables.push(
      this.output,
      this.item,
      this.inline,
      this.nextEdits,
      this.statsChanged,
      vscode.workspace.registerTextDocumentContentProvider("copilot-lsp", {
        onDidChange: this.statsChanged.event,
        provideTextDocumentContent: () => this.statsPage,
      }),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration(SECTION)) {
          void this.onSettings();
        }
      }),
      vscode.window.onDidChangeActiveTextEditor(() => this.render()),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        if (this.status.phase === "error") {
          void this.restart("the workspace is trusted now");
        }
      }),
    );
    this.registerCommands();
    this.render();
    this.item.show();
  }

  get api(): Api {
    return {
      state: () => {
        const view = statusView(this.status);
        return {
          status: { ...this.status },
          text: view.text,
          tooltip: view.tooltip,
          pid: this.client?.isRunning() && !this.status.address ? this.pid : undefined,
          address: this.client?.isRunning() ? this.status.address : undefined,
          settings: this.settings,
          initializationOptions: initializationOptions(this.settings),
          restarts: this.restarts,
          events: [...this.inline.sent],
          lastAnswer: this.lastAnswer,
          lastShown: this.inline.lastShown,
          streaming: { ...this.inline.counters },
          log: [...this.logTail],
          trace: [...this.inline.trace],
          phases: [...this.phases],
          popups: [...this.popups],
        };
      },
      client: () => this.client,
      nextEdit: () => this.nextEdits.state,
      stream: (uri) => {
        const stream = this.inline.streams.get(uri);
        return stream && { ...stream, place: { ...stream.place } };
      },
    };
  }

  private registerCommands(): void {
    const register = (name: string, run: (...args: any[]) => unknown) =>
      this.disposables.push(vscode.commands.registerCommand(name, run));
    register("copilotLsp.toggle", () => this.toggle());
    register("copilotLsp.trigger", () => this.trigger());
    register("copilotLsp.generate", () => this.generate());
    register("copilotLsp.showStats", () => this.showStats());
    register("copilotLsp.openLog", () => this.output.show(true));
    register("copilotLsp.restart", () => {
      this.backoff.reset();
      return this.restart("restart asked for");
    });
    register("copilotLsp.menu", () => this.menu());
    register("copilotLsp.dismiss", () => this.inline.dismiss());
    register(ACCEPT_COMMAND, (requestId: unknown) => {
      if (typeof requestId === "number") {
        this.inline.accepted(requestId);
      }
    });
  }

  private render(): void {
    const document = vscode.window.activeTextEditor?.document;
    this.status.enabled = this.settings.enable;
    this.status.languageId = document?.languageId;
    this.status.languageEnabled = document ? languageEnabled(this.settings, document.languageId) : undefined;
    const view = statusView(this.status);
    const phase = this.status.phase + (this.status.phase === "loading" && this.status.progress ? `: ${this.status.progress}` : "");
    if (this.phases[this.phases.length - 1] !== phase) {
      this.phases.push(phase);
      this.phases.splice(0, this.phases.length - 50);
    }
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.severity === "normal" ? undefined
      : new vscode.ThemeColor(view.severity === "error" ? "statusBarItem.errorBackground" : "statusBarItem.warningBackground");
  }

  private setPhase(phase: StatusState["phase"], error?: string): void {
    this.status.phase = phase;
    this.status.error = error;
    if (phase !== "loading") {
      this.status.progress = undefined;
    }
    this.render();
  }

  /** Start a server with the current settings, or connect to the running one at
   * copilotLsp.server.address (a new client each time). */
  async start(): Promise<void> {
    const generation = ++this.generation;
    this.status.address = undefined;
    this.pid = undefined;
    this.exited = undefined;
    this.lastStderr = [];
    const serverOptions = this.settings.server.address
      ? await this.connectServer(generation, this.settings.server.address)
      : this.spawnServer();
    if (serverOptions === undefined || generation !== this.generation) {
      return;
    }
    const options: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      initializationOptions: initializationOptions(this.settings),
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      middleware: { provideInlineCompletionItems: this.inline.provide },
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue }),
        closed: () => {
          void this.onClosed(generation);
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
      initializationFailedHandler: (error) => {
        this.output.error(`the server failed to initialize: ${error instanceof Error ? error.message : String(error)}`);
        return false;
      },
      stdioOptions: { stdout: () => undefined, stderr: () => undefined }, // stdout: the protocol; stderr: see above
    };
    const client = new Client("copilotLsp", "copilot-lsp", serverOptions, options);
    this.client = client;
    client.registerFeature(this.watchProgress(client, generation));
    client.onNotification("copilot/partialCompletion", (params: Partial) => this.inline.onPartial(params));
    client.onNotification("copilot/status", (params: { alerts?: string[] }) => {
      this.status.alerts = Array.isArray(params?.alerts) ? params.alerts : [];
      this.render();
    });
    try {
      await client.start();
    } catch (error) {
      if (generation === this.generation) {
        const why = error instanceof Error ? error.message : String(error);
        if (this.status.address) {
          if (this.closing !== generation) { // one message, whether or not the client reported the close first
            this.closing = generation;
            this.connectionFailed(`the server at ${this.status.address} did not answer initialize (${why})`);
          }
        } else {
          this.output.error(`the server did not start: ${why}`);
          void this.onClosed(generation);
        }
      }
      return;
    }
    if (generation !== this.generation) {
      return;
    }
    this.backoff.started(Date.now());
    if (this.status.phase === "starting") {
      // The server reports the model loading as work-done progress right after this; a
      // server that has nothing to load (or reports nothing) is taken as ready soon after.
      this.setPhase("loading");
      setTimeout(() => {
        if (generation === this.generation && this.status.phase === "loading" && !this.progressSeen) {
          this.setPhase("ready");
        }
      }, 3000);
    }
    this.output.info(this.status.address ? `connected to the server at ${this.status.address}` : `the server runs (pid ${this.pid})`);
  }

  /** The server command, spawned by the client; undefined (and the error shown) when not found. */
  private spawnServer(): ServerOptions | undefined {
    const resolved = resolveServerCommand(
      {
        command: this.settings.server.command,
        pythonPath: this.settings.server.pythonPath,
        extensionPath: this.context.extensionPath,
        workspaceFolders: (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === "file").map((f) => f.uri.fsPath),
        trusted: vscode.workspace.isTrusted,
        pathEnv: process.env.PATH ?? "",
        home: os.homedir(),
      },
      { isExecutable },
    );
    if (!resolved.ok) {
      this.output.error(resolved.message);
      this.setPhase("error", resolved.message);
      this.popup("error", resolved.message, "Open Settings", "Open Log");
      return undefined;
    }
    this.output.info(`starting ${[resolved.command, ...resolved.args].join(" ")} (${resolved.origin})`);
    this.progressSeen = false;
    this.setPhase("starting");
    const splitter = new LineSplitter();
    const log = (line: string) => {
      const { level, text } = parseLogLine(line);
      this.output[level](text);
      this.logTail.push(line);
      if (this.logTail.length > 300) {
        this.logTail.shift();
      }
      if (level === "error" || level === "warn") {
        this.lastStderr = [...this.lastStderr.slice(-4), text];
      }
    };
    const cwd = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === "file")?.uri.fsPath;
    // The extension spawns the server itself, to know how it ended when it stops.
    return async (): Promise<ChildProcess> => {
      const child = spawn(resolved.command, resolved.args, {
        cwd: cwd ?? os.homedir(),
        env: { ...process.env, ...this.settings.server.env },
        stdio: ["pipe", "pipe", "pipe"],
      });
      const stderrEnded = new Promise<void>((resolve) => child.stderr.on("close", () => resolve()));
      this.exited = new Promise((resolve) => {
        // How it ended, once its last words on stderr are in (or soon after the exit).
        const ended = (result: { code: number | null; signal: NodeJS.Signals | null; error?: string }) => {
          void Promise.race([stderrEnded, new Promise((r) => setTimeout(r, 500))]).then(() => resolve(result));
        };
        child.on("exit", (code, signal) => ended({ code, signal }));
        child.on("error", (error) => ended({ code: null, signal: null, error: error.message }));
      });
      child.stderr.on("data", (chunk: Buffer) => splitter.push(chunk.toString("utf8")).forEach(log));
      child.stderr.on("end", () => splitter.flush().forEach(log));
      this.pid = child.pid;
      return child;
    };
  }

  /** The running server at `address` (copilotLsp.server.address), connected to before the
   * client starts: a failed connection is one message and an error in the status bar item,
   * with no retries (Retry in the message, or the Restart command, tries again). */
  private async connectServer(generation: number, address: string): Promise<ServerOptions | undefined> {
    const parsed = parseAddress(address);
    if (!parsed.ok) {
      this.output.error(parsed.message);
      this.setPhase("error", parsed.message);
      this.popup("error", `copilot-lsp: ${parsed.message}`, "Open Settings");
      return undefined;
    }
    this.status.address = parsed.text;
    this.output.info(`connecting to the server at ${parsed.text} (copilotLsp.server.address)`);
    this.progressSeen = false;
    this.setPhase("starting");
    try {
      const socket = await connect(parsed.host, parsed.port);
      if (generation !== this.generation) {
        socket.destroy();
        return undefined;
      }
      return async () => ({ reader: socket, writer: socket });
    } catch (error) {
      if (generation === this.generation) {
        this.connectionFailed(error instanceof Error ? error.message : String(error));
      }
      return undefined;
    }
  }

  /** One message, the status bar item in error, and no automatic retry. */
  private connectionFailed(message: string): void {
    this.output.error(message);
    this.setPhase("error", message);
    this.inline.reset();
    this.popup("error", `copilot-lsp: ${message}`, "Retry", "Open Settings", "Open Log");
  }

  /** The server's work-done progress while the model loads, shown in the status bar item.
   * The server creates it as soon as it is initialized; vscode-languageclient's own progress
   * feature registers its handler only after sending `initialized`, which can be too late.
   * So the handler is registered before the start (the client attaches it before sending
   * `initialized`), and again when the features initialize (replacing the client's own). */
  private watchProgress(client: LanguageClient, generation: number): StaticFeature {
    const create = ({ token }: { token: string | number }) => {
      this.inline.note(`progress ${token} created`);
      this.progressSeen = generation === this.generation;
      const subscription = client.onProgress(WorkDoneProgress.type, token, (value) => {
        this.inline.note(`progress ${token} ${value.kind} ${value.message ?? ""}`);
        if (generation !== this.generation) {
          return;
        }
        if (value.kind === "begin" || value.kind === "report") {
          if (this.status.phase === "starting" || this.status.phase === "ready" || this.status.phase === "loading") {
            this.status.phase = "loading";
            this.status.progress = value.message ?? this.status.progress;
            this.render();
          }
        } else {
          subscription.dispose();
          if (value.message?.includes("failed to load")) {
            this.setPhase("error", value.message);
            this.popup("error", `copilot-lsp: ${value.message}`, "Open Settings", "Open Log");
          } else if (this.status.phase === "loading" || this.status.phase === "starting") {
            this.setPhase("ready");
          }
        }
      });
    };
    client.onRequest(WorkDoneProgressCreateRequest.type, create);
    return {
      getState: () => ({ kind: "static" }),
      fillClientCapabilities: (capabilities) => {
        capabilities.window = { ...capabilities.window, workDoneProgress: true };
      },
      initialize: () => {
        client.onRequest(WorkDoneProgressCreateRequest.type, create);
      },
      clear: () => undefined,
    };
  }

  /** The connection closed without being asked to: restart after a delay, or give up. */
  private async onClosed(generation: number): Promise<void> {
    if (generation !== this.generation || this.closing === generation) {
      return;
    }
    this.closing = generation;
    if (this.status.address) {
      // Not restarted (nothing to restart here): the server at the address stopped, or dropped us.
      this.connectionFailed(`the connection to the server at ${this.status.address} closed: start it again, then Retry`);
      return;
    }
    const ended = await Promise.race([this.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3000))]);
    if (generation !== this.generation) {
      return;
    }
    const how = ended?.error ? ended.error : ended?.signal ? `killed by ${ended.signal}`
      : ended?.code !== null && ended?.code !== undefined ? `exit code ${ended.code}` : "connection closed";
    const last = this.lastStderr.length > 0 ? `: ${this.lastStderr[this.lastStderr.length - 1]}` : "";
    const delay = this.backoff.crashed(Date.now());
    this.inline.reset();
    if (delay === undefined) {
      const message = `copilot-lsp: the server stopped ${this.backoff.inRow} times in a row (${how}${last}); not restarting it again.`;
      this.output.error(message);
      this.setPhase("error", message);
      this.popup("error", message, "Restart", "Open Log", "Open Settings");
      return;
    }
    const message = `the server stopped (${how}${last}); restarting in ${Math.round(delay / 1000)} s`;
    this.output.error(message);
    this.setPhase("error", message);
    if (this.backoff.inRow === 1) {
      this.popup("warning", `copilot-lsp: ${message}.`, "Open Log");
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (generation === this.generation) {
        void this.restart("after a crash");
      }
    }, delay);
  }

  /** An error or warning message with buttons (see offer); the last ones are kept for the tests. */
  private popup(level: "error" | "warning", message: string, ...items: string[]): void {
    this.popups.push(message);
    this.popups.splice(0, this.popups.length - 20);
    const show = level === "error" ? vscode.window.showErrorMessage : vscode.window.showWarningMessage;
    void this.offer(show(message, ...items));
  }

  private async offer(choice: Thenable<string | undefined>): Promise<void> {
    const picked = await choice;
    if (picked === "Open Log") {
      this.output.show(true);
    } else if (picked === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", SECTION);
    } else if (picked === "Restart" || picked === "Retry") {
      this.backoff.reset();
      await this.restart("restart asked for");
    }
  }

  async stop(): Promise<void> {
    this.generation++;
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
    }
    const client = this.client;
    this.client = undefined;
    this.inline.reset();
    this.nextEdits.reset();
    if (client) {
      try {
        if (client.isRunning()) {
          await client.stop(5000);
        }
      } catch (error) {
        this.output.warn(`stopping the server: ${error instanceof Error ? error.message : String(error)}`);
      }
      try {
        await client.dispose();
      } catch {
        // already gone
      }
    }
  }

  async restart(reason: string): Promise<void> {
    this.output.info(`restarting the server: ${reason}`);
    this.restarts++;
    await this.stop();
    await this.start();
  }

  private async onSettings(): Promise<void> {
    const before = this.settings;
    this.settings = readSettings();
    this.render();
    const plan = changePlan(before, this.settings);
    if (plan.kind === "restart") {
      this.backoff.reset();
      await this.restart(plan.reason);
    } else if (plan.kind === "notify" && this.client?.isRunning()) {
      await this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: plan.settings });
    }
  }

  private async toggle(): Promise<boolean> {
    const enable = !this.settings.enable;
    await vscode.workspace.getConfiguration(SECTION).update("enable", enable, vscode.ConfigurationTarget.Global);
    if (!enable) {
      await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
    }
    vscode.window.setStatusBarMessage(`copilot-lsp: suggestions ${enable ? "on" : "off"}`, 3000);
    return enable;
  }

  private async trigger(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (editor) {
      this.inline.streams.clear(editor.document.uri.toString()); // ask the server again
    }
    this.inline.note("trigger command");
    await this.inline.askAgain();
  }

  private async generate(): Promise<Answer | undefined> {
    const editor = vscode.window.activeTextEditor;
    const client = this.client;
    if (!editor || !client?.isRunning()) {
      void vscode.window.showInformationMessage(editor ? "copilot-lsp: the server is not running." : "copilot-lsp: no editor.");
      return undefined;
    }
    this.status.busy = true;
    this.render();
    try {
      const answer = await this.inline.generate(editor, (params) => client.sendRequest("copilot/generate", params));
      if (answer.error || !answer.text) {
        const why = answer.error ?? answer.reason ?? answer.route ?? "no text";
        void vscode.window.showInformationMessage(`copilot-lsp: nothing generated here (${why}).`);
      }
      return answer;
    } finally {
      this.status.busy = false;
      this.render();
    }
  }

  private async showStats(): Promise<object | undefined> {
    if (!this.client?.isRunning()) {
      void vscode.window.showInformationMessage("copilot-lsp: the server is not running.");
      return undefined;
    }
    const stats = await this.client.sendRequest<Record<string, unknown>>("copilot/stats", { recent: 0 });
    this.statsPage = renderStats(stats);
    this.statsChanged.fire(STATS_URI);
    const document = await vscode.workspace.openTextDocument(STATS_URI);
    await vscode.languages.setTextDocumentLanguage(document, "markdown");
    await vscode.window.showTextDocument(document, { preview: true });
    return stats;
  }

  private async menu(): Promise<void> {
    const items: (vscode.QuickPickItem & { command: string })[] = [
      { label: this.settings.enable ? "$(circle-slash) Turn suggestions off" : "$(check) Turn suggestions on", command: "copilotLsp.toggle" },
      { label: "$(graph) Show statistics", command: "copilotLsp.showStats" },
      { label: "$(output) Open log", command: "copilotLsp.openLog" },
      { label: "$(debug-restart) Restart server", command: "copilotLsp.restart" },
      { label: "$(sparkle) Generate here", command: "copilotLsp.generate", description: "larger model when configured" },
      { label: "$(gear) Settings", command: "workbench.action.openSettings" },
    ];
    const view = statusView(this.status);
    const picked = await vscode.window.showQuickPick(items, { title: "copilot-lsp", placeHolder: view.tooltip.split("\n")[0] });
    if (picked) {
      await vscode.commands.executeCommand(picked.command, ...(picked.command === "workbench.action.openSettings" ? [SECTION] : []));
    }
  }

  dispose(): void {
    void this.stop();
    this.disposables.forEach((d) => d.dispose());
  }
}

let controller: Controller | undefined;

export function activate(context: vscode.ExtensionContext): Api {
  controller = new Controller(context);
  context.subscriptions.push(controller);
  void controller.start();
  return controller.api;
}

export async function deactivate(): Promise<void> {
  await controller?.stop();
  controller = undefined;
}
