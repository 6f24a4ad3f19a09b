// Runs the extension in a real VS Code: the compiled VS Code inside the npm package
// code-server (server-main.js on Node 24) serving its web workbench, opened in Debian's
// chromium through playwright-core (all installed by scripts/setup-test-vscode.sh).
//
//   node out/test/driver/run.js --env ENV_FILE --mode exthost|ui --out DIR [--vsix FILE]
//
// exthost: the workbench loads the extension for development and runs out/test/exthost in
//          its extension host; VS Code reports the exit code through codeAutomationExit.
// ui:      the workbench loads the extension (installed from the .vsix with --vsix, else for
//          development); the driver opens a Python file, types, waits for the ghost text of
//          the real server and model, presses Tab, saves, and checks the file on disk; then
//          the status bar item, its menu and the statistics. Screenshots go to DIR.
// The server under test: COPILOT_LSP_CMD (a JSON list), else the checkout's .venv.
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { chromium, Page } from "playwright-core";
import { SOURCE, TYPED } from "../fixture";

const EXTENSION = path.resolve(__dirname, "..", "..", "..");
const ROOT = path.resolve(EXTENSION, "..", "..");

function arg(name: string, optional = false): string {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0 || !process.argv[index + 1]) {
    if (optional) {
      return "";
    }
    throw new Error(`missing --${name}`);
  }
  return process.argv[index + 1];
}

function readEnv(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const match = /^(\w+)="(.*)"$/.exec(line.trim());
    if (match) {
      out[match[1]] = match[2];
    }
  }
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, get: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await get();
    if (value) {
      return value;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function say(message: string): void {
  process.stdout.write(`[driver] ${message}\n`);
}

interface Setup {
  short: string;
  env: Record<string, string>;
  vsix: string;
  out: string;
  mode: string;
  project: string;
  userData: string;
  serverData: string;
  tmp: string;
}

function prepare(): Setup {
  const env = readEnv(arg("env"));
  const mode = arg("mode");
  const out = path.resolve(arg("out"));
  const base = path.join(out, `vscode-${mode}`);
  fs.rmSync(base, { recursive: true, force: true });
  // Sockets live in TMPDIR and XDG_RUNTIME_DIR: keep those paths short (108 bytes at most).
  const short = fs.mkdtempSync(path.join(os.tmpdir(), "cl-vsc-"));
  const dirs = {
    project: path.join(base, "project"),
    userData: path.join(base, "user-data"),
    serverData: path.join(base, "server-data"),
    tmp: path.join(short, "t"),
    xdg: path.join(base, "xdg"),
  };
  for (const dir of Object.values(dirs)) {
    fs.mkdirSync(dir, { recursive: true });
  }
  fs.writeFileSync(path.join(dirs.project, "walk.py"), SOURCE);
  const command: string[] = process.env.COPILOT_LSP_CMD
    ? JSON.parse(process.env.COPILOT_LSP_CMD)
    : [path.join(ROOT, ".venv", "bin", "copilot-lsp"), "serve"];
  const xdg = Object.fromEntries(
    ["XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"].map((name) => {
      const dir = name === "XDG_RUNTIME_DIR" ? path.join(short, "r") : path.join(dirs.xdg, name.toLowerCase());
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      return [name, dir];
    }),
  );
  const settings = {
    // A quiet workbench: no chat panel taking the focus, no welcome page, no network.
    "chat.disableAIFeatures": true,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.enableExperiments": false,
    "extensions.autoCheckUpdates": false,
    "extensions.autoUpdate": false,
    "extensions.ignoreRecommendations": true,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "security.workspace.trust.enabled": false,
    "editor.inlineSuggest.enabled": true,
    "files.autoSave": "off",
    // The suggestion list (words, snippets such as "if") would open while the test types and
    // take precedence over ghost text that does not extend its selected item.
    "editor.quickSuggestions": { other: false, comments: false, strings: false },
    "editor.suggestOnTriggerCharacters": false,
    "editor.wordBasedSuggestions": "off",
    // The harness's settings that keep a slow shared machine from cutting answers short.
    "copilotLsp.debounceMs": 0,
    "copilotLsp.serverSettings": { completion: { max_prefill_ms: 0, max_decode_ms: 0 }, cache: { prefetch: false } },
  };
  fs.mkdirSync(path.join(dirs.userData, "User"), { recursive: true });
  fs.writeFileSync(path.join(dirs.userData, "User", "settings.json"), JSON.stringify(settings, null, 2));
  // The server under test, with private folders (its cache starts empty): machine settings,
  // which VS Code reads from the machine the extension host runs on.
  const machine = { "copilotLsp.server.command": command, "copilotLsp.server.env": xdg };
  fs.mkdirSync(path.join(dirs.userData, "Machine"), { recursive: true });
  fs.writeFileSync(path.join(dirs.userData, "Machine", "settings.json"), JSON.stringify(machine, null, 2));
  return { env, out, mode, vsix: arg("vsix", true), short, ...dirs };
}

function serverArgs(setup: Setup): string[] {
  return ["--server-data-dir", setup.serverData, "--user-data-dir", setup.userData, "--accept-server-license-terms"];
}

/** Install the .vsix the way users do (VS Code's own installer, into the server's folder). */
async function install(setup: Setup, log: fs.WriteStream): Promise<void> {
  const installer = spawn(
    setup.env.NODE24,
    [path.join(setup.env.VSCODE, "out", "server-main.js"), "--install-extension", setup.vsix, ...serverArgs(setup)],
    { env: { ...process.env, TMPDIR: setup.tmp }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  installer.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  installer.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => installer.on("close", resolve));
  log.write(output);
  if (code !== 0 || !/successfully installed/.test(output)) {
    throw new Error(`installing ${setup.vsix} failed (${code}):\n${output}`);
  }
  say(`installed ${setup.vsix}`);
}

async function startServer(setup: Setup, port: number, log: fs.WriteStream): Promise<ChildProcess> {
  const server = spawn(
    setup.env.NODE24,
    [
      path.join(setup.env.VSCODE, "out", "server-main.js"),
      "--host", "127.0.0.1",
      "--port", String(port),
      "--without-connection-token",
      "--enable-smoke-test-driver",
      "--disable-telemetry",
      "--disable-workspace-trust",
      ...serverArgs(setup),
    ],
    {
      env: {
        ...process.env,
        TMPDIR: setup.tmp,
        COPILOT_VSCODE_RESULTS: path.join(setup.out, "vscode-exthost-results.json"),
        COPILOT_LSP_VSCODE_TRACE: "1", // the provider's trace in the console log
      },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group: the extension hosts, watchers and servers end with it
    },
  );
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    log.write(chunk);
  };
  server.stdout!.on("data", collect);
  server.stderr!.on("data", collect);
  await waitFor("VS Code's server to listen", () => {
    if (server.exitCode !== null) {
      throw new Error(`VS Code's server exited with ${server.exitCode}:\n${output}`);
    }
    return /listening on|Web UI available/i.test(output);
  }, 60_000);
  return server;
}

/** Stop VS Code's server and everything it started (the copilot-lsp servers too). */
async function stopGroup(server: ChildProcess): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-server.pid!, name);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  const exited = await Promise.race([
    new Promise<boolean>((resolve) => (server.exitCode !== null ? resolve(true) : server.on("exit", () => resolve(true)))),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000)),
  ]);
  await new Promise((resolve) => setTimeout(resolve, exited ? 500 : 0));
  signal("SIGKILL");
}

function workbenchUrl(port: number, setup: Setup, tests: boolean): string {
  const remote = (file: string) => `vscode-remote://127.0.0.1:${port}${file}`;
  const payload: [string, string][] = [["skipWelcome", "true"]];
  if (!setup.vsix) {
    payload.push(["extensionDevelopmentPath", remote(EXTENSION)]);
  }
  if (tests) {
    payload.push(["extensionTestsPath", remote(path.join(EXTENSION, "out", "test", "exthost", "index"))]);
  }
  return `http://127.0.0.1:${port}/?folder=${encodeURIComponent(setup.project)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

async function runExtensionTests(page: Page, url: string): Promise<number> {
  let finish: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (finish = resolve));
  await page.exposeFunction("codeAutomationLog", () => undefined);
  await page.exposeFunction("codeAutomationExit", (code: number) => finish(code));
  await page.goto(url);
  return Promise.race([
    exited,
    new Promise<number>((_, reject) => setTimeout(() => reject(new Error("the extension tests did not finish in 10 minutes")), 600_000)),
  ]);
}

async function ghostText(page: Page): Promise<string> {
  const parts = await page.locator(".monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text").allTextContents();
  return parts.join("").replace(/\u00a0/g, " ");
}

async function runUi(page: Page, url: string, setup: Setup): Promise<void> {
  await page.goto(url);
  const status = page.locator(".statusbar-item", { hasText: "copilot-lsp" });
  await waitFor("the status bar item", async () => (await status.count()) > 0, 90_000);
  say("workbench loaded, extension active");
  // Open the file with Quick Open.
  await page.locator(".monaco-workbench").click({ position: { x: 600, y: 300 } }).catch(() => undefined);
  const editor = page.locator(".monaco-editor .view-lines", { hasText: "list_files" });
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press("Control+P");
    await page.locator(".quick-input-widget input").waitFor({ state: "visible", timeout: 30_000 });
    await page.keyboard.type("walk.py");
    await page.locator(".quick-input-list .monaco-list-row", { hasText: "walk.py" }).first().waitFor({ timeout: 30_000 });
    await page.keyboard.press("Enter");
    try {
      await editor.waitFor({ state: "visible", timeout: 15_000 });
      break;
    } catch (error) {
      if (attempt === 3) {
        throw error;
      }
      await page.keyboard.press("Escape"); // the list was not ready: once more
    }
  }
  await waitFor("the server to be ready", async () => (await status.first().locator(".codicon-check").count()) > 0, 90_000);
  say("walk.py open, server ready");
  await editor.click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type(TYPED, { delay: 30 });
  // The ghost text streams in: wait until it is there and stays the same for a while.
  let last = "";
  let since = Date.now();
  const shown = await waitFor("ghost text that stops changing", async () => {
    const text = await ghostText(page);
    if (text !== last) {
      last = text;
      since = Date.now();
    }
    return text.trim().length > 0 && Date.now() - since > 1000 && text;
  }, 60_000);
  say(`ghost text: ${JSON.stringify(shown)}`);
  const shot = path.join(setup.out, "vscode-ghost-text.png");
  await page.screenshot({ path: shot });
  say(`screenshot: ${shot}`);
  await page.keyboard.press("Tab");
  // Accepted: that ghost text goes. The next suggestion (prefetched for the text just accepted,
  // so often at once) may take its place: only the accepted one must be gone.
  await waitFor("the accepted ghost text to go", async () => (await ghostText(page)).trim() !== shown.trim(), 10_000);
  await page.waitForTimeout(300);
  const accepted = path.join(setup.out, "vscode-accepted.png");
  await page.screenshot({ path: accepted });
  say(`screenshot: ${accepted}`);
  await page.keyboard.press("Control+S");
  const file = path.join(setup.project, "walk.py");
  const content = await waitFor("the file saved with the suggestion", () => {
    const text = fs.readFileSync(file, "utf8");
    return text.length > (SOURCE + TYPED).length && text;
  }, 20_000);
  const inserted = content.slice((SOURCE + TYPED).length);
  if (!content.startsWith(SOURCE + TYPED) || inserted.length === 0) {
    throw new Error(`the saved file does not end with the typed text and a suggestion:\n${JSON.stringify(content)}`);
  }
  // Single-line suggestions are shown as they are inserted; a multi-line one shows its first
  // line inline and the rest below.
  const firstLine = inserted.split("\n")[0];
  if (!(inserted === shown || shown.startsWith(firstLine))) {
    throw new Error(`inserted ${JSON.stringify(inserted)}, but the ghost text was ${JSON.stringify(shown)}`);
  }
  say(`accepted with Tab, saved: ...${JSON.stringify(content.slice(-60))}`);
  const statusText = (await status.first().textContent()) ?? "";
  if (!/copilot-lsp \d/.test(statusText)) {
    throw new Error(`the status bar item shows no latency: ${JSON.stringify(statusText)}`);
  }
  say(`status bar: ${JSON.stringify(statusText.trim())}`);
  // The status bar item's menu, and its statistics entry.
  await status.first().click();
  const menu = page.locator(".quick-input-widget", { hasText: "Show statistics" });
  await menu.waitFor({ state: "visible", timeout: 10_000 });
  for (const entry of ["Turn suggestions off", "Open log", "Restart server"]) {
    if ((await menu.locator(".quick-input-list", { hasText: entry }).count()) === 0) {
      throw new Error(`the menu has no "${entry}"`);
    }
  }
  const menuShot = path.join(setup.out, "vscode-menu.png");
  await page.screenshot({ path: menuShot });
  say(`screenshot: ${menuShot}`);
  await page.keyboard.type("statistics");
  await page.keyboard.press("Enter");
  await page.locator(".monaco-editor .view-lines", { hasText: "copilot-lsp statistics" }).waitFor({ state: "visible", timeout: 20_000 });
  const statsShot = path.join(setup.out, "vscode-statistics.png");
  await page.screenshot({ path: statsShot });
  say(`screenshot: ${statsShot}`);
}

async function main(): Promise<number> {
  const setup = prepare();
  const port = await freePort();
  const serverLog = fs.createWriteStream(path.join(setup.out, `vscode-${setup.mode}-server.log`));
  const pageLog = fs.createWriteStream(path.join(setup.out, `vscode-${setup.mode}-console.log`));
  if (setup.vsix) {
    await install(setup, serverLog);
  }
  const server = await startServer(setup, port, serverLog);
  say(`VS Code ${setup.env.VSCODE} serving on 127.0.0.1:${port}`);
  const browser = await chromium.launch({
    executablePath: setup.env.CHROMIUM,
    env: { ...process.env, LD_LIBRARY_PATH: setup.env.CHROMIUM_LIBS, TMPDIR: setup.tmp },
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("console", (message) => {
      const text = message.text();
      pageLog.write(`${message.type()} ${text}\n`);
      const result = /(?:^|\s)((?:not )?ok - [\s\S]*)$/.exec(text);
      if (result) {
        process.stdout.write(`${result[1].split("\n")[0]}\n`);
      }
    });
    page.on("pageerror", (error) => pageLog.write(`pageerror ${error.stack ?? error.message}\n`));
    if (setup.mode === "exthost") {
      const code = await runExtensionTests(page, workbenchUrl(port, setup, true));
      say(`the extension tests ended with code ${code}`);
      return code;
    }
    try {
      await runUi(page, workbenchUrl(port, setup, false), setup);
    } catch (error) {
      const shot = path.join(setup.out, "vscode-failure.png");
      await page.screenshot({ path: shot }).catch(() => undefined);
      say(`screenshot of the failure: ${shot}`);
      throw error;
    }
    return 0;
  } finally {
    await browser.close().catch(() => undefined);
    await stopGroup(server);
    fs.rmSync(setup.short, { recursive: true, force: true });
    serverLog.end();
    pageLog.end();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`[driver] ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
