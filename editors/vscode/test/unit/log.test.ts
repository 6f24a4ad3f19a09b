import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LineSplitter, parseLogLine } from "../../src/log";

describe("parseLogLine", () => {
  const cases: [string, { level: string; text: string }][] = [
    ["2026-01-02 03:04:05,678 INFO copilot.session: ready", { level: "info", text: "copilot.session: ready" }],
    ["2026-01-02 03:04:05,678 WARNING copilot.pipeline: [r4] slow", { level: "warn", text: "copilot.pipeline: [r4] slow" }],
    ["2026-01-02 03:04:05,678 DEBUG copilot.engine: x", { level: "debug", text: "copilot.engine: x" }],
    ["2026-01-02 03:04:05,678 CRITICAL copilot: y", { level: "error", text: "copilot: y" }],
    ["Traceback (most recent call last):", { level: "error", text: "Traceback (most recent call last):" }],
  ];
  for (const [line, expected] of cases) {
    it(line, () => assert.deepEqual(parseLogLine(line), expected));
  }
});

describe("LineSplitter", () => {
  it("joins chunks into lines", () => {
    const splitter = new LineSplitter();
    assert.deepEqual(splitter.push("a\nb"), ["a"]);
    assert.deepEqual(splitter.push("c\r\n\nd"), ["bc"]);
    assert.deepEqual(splitter.flush(), ["d"]);
    assert.deepEqual(splitter.flush(), []);
  });
});
