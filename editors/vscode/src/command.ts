// Which command starts the server. Pure apart from the two probes it is given.
import * as path from "node:path";

export interface CommandInputs {
  /** copilotLsp.server.command */
  command: string[];
  /** copilotLsp.server.pythonPath */
  pythonPath: string;
  /** The folder the extension runs from (editors/vscode in a copilot-lsp checkout when developing). */
  extensionPath: string;
  /** Local workspace folders; their .venv is only considered in a trusted workspace. */
  workspaceFolders: string[];
  trusted: boolean;
  /** The PATH to search for `copilot-lsp`. */
  pathEnv: string;
  home: string;
}

export interface Probes {
  /** Is this an executable file? */
  isExecutable(file: string): boolean;
}

export type Resolved =
  | { ok: true; command: string; args: string[]; origin: string }
  | { ok: false; message: string; tried: string[] };

const SERVE = ["serve"];

function expandHome(file: string, home: string): string {
  return file === "~" || file.startsWith("~/") ? path.join(home, file.slice(1)) : file;
}

function onPath(name: string, pathEnv: string, probes: Probes): string | undefined {
  for (const dir of pathEnv.split(path.delimiter)) {
    if (dir && probes.isExecutable(path.join(dir, name))) {
      return path.join(dir, name);
    }
  }
  return undefined;
}

/** An explicit command, else a Python interpreter, else the checkout's or the workspace's
 * `.venv/bin/copilot-lsp`, else `copilot-lsp` on the PATH. A command that cannot be found
 * is an error that names what was tried. */
export function resolveServerCommand(inputs: CommandInputs, probes: Probes): Resolved {
  const tried: string[] = [];
  const check = (file: string, origin: string, args: string[]): Resolved | undefined => {
    const expanded = expandHome(file, inputs.home);
    const found = expanded.includes(path.sep) ? (probes.isExecutable(expanded) ? expanded : undefined)
      : onPath(expanded, inputs.pathEnv, probes);
    if (found === undefined) {
      tried.push(`${expanded} (${origin})`);
      return undefined;
    }
    return { ok: true, command: found, args, origin };
  };
  if (inputs.command.length > 0) {
    const [file, ...args] = inputs.command;
    return check(file, "copilotLsp.server.command", args) ?? notFound(tried, "copilotLsp.server.command");
  }
  if (inputs.pythonPath) {
    return check(inputs.pythonPath, "copilotLsp.server.pythonPath", ["-m", "copilot.lsp", ...SERVE])
      ?? notFound(tried, "copilotLsp.server.pythonPath");
  }
  const checkout = path.resolve(inputs.extensionPath, "..", "..");
  const candidates = [{ file: path.join(checkout, ".venv", "bin", "copilot-lsp"), origin: "the copilot-lsp checkout" }];
  if (inputs.trusted) {
    for (const folder of inputs.workspaceFolders) {
      candidates.push({ file: path.join(folder, ".venv", "bin", "copilot-lsp"), origin: "the workspace folder" });
    }
  }
  for (const { file, origin } of candidates) {
    const found = check(file, origin, SERVE);
    if (found) {
      return found;
    }
  }
  return check("copilot-lsp", "PATH", SERVE) ?? notFound(tried, undefined);
}

function notFound(tried: string[], setting: string | undefined): Resolved {
  const fix = setting
    ? `Check the setting ${setting}.`
    : "Install it (`pip install -e .` in a copilot-lsp checkout, or `make run` there) and put `copilot-lsp` on the PATH, or set copilotLsp.server.command or copilotLsp.server.pythonPath.";
  return { ok: false, message: `copilot-lsp: the server was not found (tried ${tried.join(", ")}). ${fix}`, tried };
}
