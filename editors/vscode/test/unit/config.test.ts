import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { changePlan, deepMerge, defaultSettings, initializationOptions, languageEnabled, Settings } from "../../src/config";

function settings(extra: Partial<Settings> = {}): Settings {
  return { ...defaultSettings(), ...extra };
}

describe("initializationOptions", () => {
  it("sends nothing for settings left at their defaults (the server's config.toml decides)", () => {
    assert.deepEqual(initializationOptions(settings()), {});
  });

  it("maps each setting to its server key", () => {
    const options = initializationOptions(
      settings({ model: "/m/q.gguf", remoteEnabled: true, debounceMs: 30, maxLines: 1, logLevel: "debug" }),
    );
    assert.deepEqual(options, {
      model: { path: "/m/q.gguf" },
      remote: { enabled: true },
      completion: { debounce_ms: 30, max_lines: 1 },
      log: { level: "debug" },
    });
  });

  it("merges serverSettings over them, recursively", () => {
    const options = initializationOptions(
      settings({ maxLines: 1, serverSettings: { completion: { max_lines: 3, max_tokens: 16 }, cache: { prefetch: false } } }),
    );
    assert.deepEqual(options, { completion: { max_lines: 3, max_tokens: 16 }, cache: { prefetch: false } });
  });

  it("ignores a serverSettings value that is not an object", () => {
    assert.deepEqual(initializationOptions(settings({ serverSettings: [] as unknown as Record<string, unknown> })), {});
  });
});

describe("deepMerge", () => {
  const cases: [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>][] = [
    [{}, {}, {}],
    [{ a: 1 }, { a: 2 }, { a: 2 }],
    [{ a: { b: 1, c: 2 } }, { a: { c: 3 } }, { a: { b: 1, c: 3 } }],
    [{ a: { b: 1 } }, { a: [1] }, { a: [1] }],
    [{ a: [1, 2] }, { a: { b: 1 } }, { a: { b: 1 } }],
  ];
  for (const [base, extra, expected] of cases) {
    it(`${JSON.stringify(base)} + ${JSON.stringify(extra)}`, () => assert.deepEqual(deepMerge(base, extra), expected));
  }
});

describe("languageEnabled", () => {
  const cases: [Partial<Settings>, string, boolean][] = [
    [{}, "python", true],
    [{}, "plaintext", false],
    [{}, "markdown", false],
    [{ enable: false }, "python", false],
    [{ languages: { "*": false, python: true } }, "python", true],
    [{ languages: { "*": false, python: true } }, "go", false],
    [{ languages: { python: false } }, "python", false],
    [{ languages: {} }, "anything", true],
  ];
  for (const [extra, language, expected] of cases) {
    it(`${JSON.stringify(extra)} ${language} -> ${expected}`, () => {
      assert.equal(languageEnabled(settings(extra), language), expected);
    });
  }
});

describe("changePlan", () => {
  it("nothing for the client-side settings", () => {
    assert.deepEqual(changePlan(settings(), settings({ enable: false, languages: { go: false } })), { kind: "none" });
  });

  it("a didChangeConfiguration for completion and log settings, with only those sections", () => {
    const plan = changePlan(settings({ model: "/m.gguf", maxLines: 4 }), settings({ model: "/m.gguf", maxLines: 1, logLevel: "debug" }));
    assert.deepEqual(plan, { kind: "notify", settings: { completion: { max_lines: 1 }, log: { level: "debug" } } });
  });

  it("a restart when the server command changes", () => {
    const plan = changePlan(settings(), settings({ server: { command: ["/x", "serve"], pythonPath: "", env: {}, address: "" } }));
    assert.equal(plan.kind, "restart");
  });

  it("a restart when the environment changes", () => {
    const plan = changePlan(settings(), settings({ server: { command: [], pythonPath: "", env: { A: "1" }, address: "" } }));
    assert.equal(plan.kind, "restart");
  });

  it("a reconnection when the server address changes", () => {
    const tcp = settings({ server: { command: [], pythonPath: "", env: {}, address: "127.0.0.1:2087" } });
    assert.deepEqual(changePlan(settings(), tcp), { kind: "restart", reason: "the server address changed" });
    assert.deepEqual(changePlan(tcp, settings()), { kind: "restart", reason: "the server address changed" });
  });

  it("a restart for the sections the server reads only at start", () => {
    for (const extra of [{ model: "/m.gguf" }, { remoteEnabled: true }, { serverSettings: { cache: { enabled: false } } }]) {
      const plan = changePlan(settings(), settings(extra));
      assert.equal(plan.kind, "restart", JSON.stringify(extra));
    }
  });

  it("a restart when a setting goes back to its default (a layer cannot unset a key)", () => {
    const plan = changePlan(settings({ maxLines: 1 }), settings());
    assert.deepEqual(plan, { kind: "restart", reason: "completion.max_lines went back to its default" });
  });
});
