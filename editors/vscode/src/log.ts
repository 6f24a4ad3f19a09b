// The server's log lines (stderr) into the extension's log channel, at their own level. Pure.

export type Level = "trace" | "debug" | "info" | "warn" | "error";

// "2026-01-01 12:00:00,123 WARNING copilot.pipeline: [r42] message" (copilot/logs.py)
const LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$/;

const LEVELS: Record<string, Level> = { DEBUG: "debug", INFO: "info", WARNING: "warn", ERROR: "error", CRITICAL: "error" };

/** The level and text of one line (the channel adds its own time stamp). Lines that are not
 * in the server's format (a traceback, a crash message) are errors. */
export function parseLogLine(line: string): { level: Level; text: string } {
  const match = LINE.exec(line);
  if (!match) {
    return { level: "error", text: line };
  }
  return { level: LEVELS[match[1]], text: match[2] };
}

/** Splits a stream of chunks into lines. */
export class LineSplitter {
  private rest = "";

  push(chunk: string): string[] {
    const parts = (this.rest + chunk).split(/\r?\n/);
    this.rest = parts.pop() ?? "";
    return parts.filter((line) => line.length > 0);
  }

  flush(): string[] {
    const rest = this.rest;
    this.rest = "";
    return rest ? [rest] : [];
  }
}
