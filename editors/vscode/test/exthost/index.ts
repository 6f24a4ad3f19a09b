// The extension tests' entry point inside VS Code's extension host (`extensionTestsPath`):
// runs the cases of suite.ts one after the other (those whose names match $COPILOT_VSCODE_ONLY,
// and not $COPILOT_VSCODE_SKIP, when set), logs each result, writes them as JSON to
// $COPILOT_VSCODE_RESULTS, and fails (VS Code then exits with code 1) when one failed.
import * as fs from "node:fs";
import { cases } from "./suite";

export async function run(): Promise<void> {
  const results: { name: string; ok: boolean; ms: number; error?: string }[] = [];
  const only = process.env.COPILOT_VSCODE_ONLY;
  const skip = process.env.COPILOT_VSCODE_SKIP;
  for (const { name, fn, timeoutMs } of cases) {
    if ((only && !new RegExp(only).test(name)) || (skip && new RegExp(skip).test(name))) {
      continue;
    }
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs ?? 120_000} ms`)), timeoutMs ?? 120_000);
        }),
      ]);
      results.push({ name, ok: true, ms: Date.now() - started });
      console.log(`ok - ${name} (${Date.now() - started} ms)`);
    } catch (error) {
      const message = error instanceof Error ? error.stack ?? error.message : String(error);
      results.push({ name, ok: false, ms: Date.now() - started, error: message });
      console.error(`not ok - ${name}: ${message}`);
    } finally {
      clearTimeout(timer);
    }
  }
  if (process.env.COPILOT_VSCODE_RESULTS) {
    fs.writeFileSync(process.env.COPILOT_VSCODE_RESULTS, JSON.stringify(results, null, 2));
  }
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0 || results.length === 0) {
    throw new Error(`${failed.length} of ${results.length} extension tests failed: ${failed.map((r) => r.name).join("; ")}`);
  }
}
