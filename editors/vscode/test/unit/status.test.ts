import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatLatency, renderStats, StatusState, statusView } from "../../src/status";

const ready: StatusState = { phase: "ready", enabled: true, languageEnabled: true, languageId: "python", alerts: [] };

describe("statusView", () => {
  const cases: [string, Partial<StatusState>, string, StatusView["severity"]][] = [
    ["starting", { phase: "starting" }, "$(sync~spin) copilot-lsp", "normal"],
    ["loading", { phase: "loading", progress: "loading m.gguf" }, "$(sync~spin) copilot-lsp: loading", "normal"],
    ["ready", {}, "$(check) copilot-lsp", "normal"],
    ["last latency from the model", { lastLatencyMs: 123.4, lastFromCache: false }, "$(check) copilot-lsp 123 ms", "normal"],
    ["from the cache", { lastLatencyMs: 2.25, lastFromCache: true }, "$(check) copilot-lsp 2.3 ms (cache)", "normal"],
    ["off", { enabled: false, lastLatencyMs: 5 }, "$(circle-slash) copilot-lsp: off", "normal"],
    ["off for a language", { languageEnabled: false, languageId: "markdown" }, "$(circle-slash) copilot-lsp: off for markdown", "normal"],
    ["error", { phase: "error", error: "boom" }, "$(error) copilot-lsp", "error"],
    ["alerts", { alerts: ["p95 over target"] }, "$(check) copilot-lsp $(warning)", "warning"],
    ["generating", { busy: true }, "$(sync~spin) copilot-lsp", "normal"],
  ];
  for (const [name, extra, text, severity] of cases) {
    it(name, () => {
      const view = statusView({ ...ready, ...extra });
      assert.equal(view.text, text);
      assert.equal(view.severity, severity);
      assert.match(view.tooltip, /Click for the menu$/);
    });
  }

  it("says why in the tooltip", () => {
    assert.match(statusView({ ...ready, phase: "error", error: "not found" }).tooltip, /^Error: not found/);
    assert.match(statusView({ ...ready, phase: "loading", progress: "loading m.gguf" }).tooltip, /Loading the model: loading m.gguf/);
    assert.match(statusView({ ...ready, lastLatencyMs: 40, lastFromCache: true }).tooltip, /40 ms, from the cache/);
    assert.match(statusView({ ...ready, lastLatencyMs: 40, lastRoute: "remote" }).tooltip, /from the remote/);
    assert.match(statusView({ ...ready, alerts: ["cost"] }).tooltip, /Alert: cost/);
  });

  it("names the server connected to over TCP", () => {
    const address = "127.0.0.1:2087";
    assert.match(statusView({ ...ready, address }).tooltip, /^Ready\nServer: 127\.0\.0\.1:2087 \(TCP, copilotLsp\.server\.address\)/);
    assert.match(statusView({ ...ready, phase: "starting", address }).tooltip, /^Connecting to the server at 127\.0\.0\.1:2087\n/);
    const failed = statusView({ ...ready, phase: "error", error: "cannot connect to the server at 127.0.0.1:2087 (ECONNREFUSED)", address });
    assert.equal(failed.text, "$(error) copilot-lsp");
    assert.match(failed.tooltip, /^Error: cannot connect to the server at 127\.0\.0\.1:2087 \(ECONNREFUSED\)/);
  });
});

type StatusView = ReturnType<typeof statusView>;

describe("formatLatency", () => {
  it("one decimal under 10 ms", () => {
    assert.equal(formatLatency(3.14159), "3.1 ms");
    assert.equal(formatLatency(99.5), "100 ms");
  });
});

describe("renderStats", () => {
  it("renders the statistics of copilot/stats", () => {
    const page = renderStats({
      counts: { requests: 12 },
      window: {
        requests: 10,
        routes: { local: 6, memory: 4 },
        route_ms: { local: { p50: 40, p95: 90, p99: 99, n: 6 } },
        stage_ms: { total: { p50: 30, p95: 80, p99: 95, n: 10 } },
        cache_hit_rate: { memory: 0.4 },
        kv_reuse: 0.9,
      },
      acceptance: { language: { python: { shown: 5, accepted: 2, partial: 1, dismissed: 2, rate: 0.6 } } },
      alerts: ["p95 over 500 ms"],
    });
    assert.match(page, /Requests since start: 12; in the window: 10/);
    assert.match(page, /\| route local \| 40\.0 \| 90\.0 \| 99\.0 \| 6 \|/);
    assert.match(page, /cache hits: memory 40\.0 %/);
    assert.match(page, /accepted \(language python\): 60\.0 % of 5 shown \(2 whole, 1 partly, 2 dismissed\)/);
    assert.match(page, /\*\*alert\*\*: p95 over 500 ms/);
    assert.match(page, /"requests": 12/);
  });

  it("copes with an empty answer", () => {
    assert.match(renderStats({}), /no suggestion shown yet/);
  });
});
