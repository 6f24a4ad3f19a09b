import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommandInputs, resolveServerCommand } from "../../src/command";

const base: CommandInputs = {
  command: [],
  pythonPath: "",
  extensionPath: "/src/copilot-lsp/editors/vscode",
  workspaceFolders: ["/work/project"],
  trusted: true,
  pathEnv: "/usr/local/bin:/usr/bin",
  home: "/home/me",
};

function resolve(inputs: Partial<CommandInputs>, executables: string[]) {
  return resolveServerCommand({ ...base, ...inputs }, { isExecutable: (file) => executables.includes(file) });
}

describe("resolveServerCommand", () => {
  it("uses the command setting as it is", () => {
    const found = resolve({ command: ["~/venv/bin/copilot-lsp", "serve", "--x"] }, ["/home/me/venv/bin/copilot-lsp"]);
    assert.deepEqual(found, { ok: true, command: "/home/me/venv/bin/copilot-lsp", args: ["serve", "--x"], origin: "copilotLsp.server.command" });
  });

  it("looks a bare command name up on the PATH", () => {
    const found = resolve({ command: ["copilot-lsp", "serve"] }, ["/usr/bin/copilot-lsp"]);
    assert.equal(found.ok && found.command, "/usr/bin/copilot-lsp");
  });

  it("says which setting is wrong when the command is missing", () => {
    const found = resolve({ command: ["/nowhere/copilot-lsp", "serve"] }, ["/usr/bin/copilot-lsp"]);
    assert.equal(found.ok, false);
    assert.match(!found.ok ? found.message : "", /not found \(tried \/nowhere\/copilot-lsp \(copilotLsp\.server\.command\)\)\. Check the setting copilotLsp\.server\.command/);
  });

  it("runs the module with a Python interpreter", () => {
    const found = resolve({ pythonPath: "/venv/bin/python" }, ["/venv/bin/python"]);
    assert.deepEqual(found, { ok: true, command: "/venv/bin/python", args: ["-m", "copilot.lsp", "serve"], origin: "copilotLsp.server.pythonPath" });
  });

  it("prefers the checkout's .venv, then the workspace's, then the PATH", () => {
    const all = ["/src/copilot-lsp/.venv/bin/copilot-lsp", "/work/project/.venv/bin/copilot-lsp", "/usr/bin/copilot-lsp"];
    assert.equal((resolve({}, all) as { command: string }).command, all[0]);
    assert.equal((resolve({}, all.slice(1)) as { command: string }).command, all[1]);
    assert.equal((resolve({}, all.slice(2)) as { command: string }).command, all[2]);
  });

  it("never runs a workspace's .venv in an untrusted workspace", () => {
    const found = resolve({ trusted: false }, ["/work/project/.venv/bin/copilot-lsp"]);
    assert.equal(found.ok, false);
    assert.deepEqual(!found.ok && found.tried, ["/src/copilot-lsp/.venv/bin/copilot-lsp (the copilot-lsp checkout)", "copilot-lsp (PATH)"]);
  });

  it("names everything it tried and how to fix it", () => {
    const found = resolve({}, []);
    assert.equal(found.ok, false);
    const message = !found.ok ? found.message : "";
    assert.match(message, /\/work\/project\/\.venv\/bin\/copilot-lsp \(the workspace folder\)/);
    assert.match(message, /copilotLsp\.server\.command/);
  });
});
