import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  atEdit,
  baseName,
  comparePos,
  DEFAULT_DELAY_MS,
  hintText,
  NextEdit,
  nextEditSettings,
  parseEdits,
  preview,
  ShownOnce,
  tabAction,
} from "../../src/nextEditLogic";

const LIB = "file:///w/shop/pricing.py";
const MAIN = "file:///w/shop/main.py";

/** An edit as the server sends it (lsp/nextedit.py). */
function wire(uri: string, line: number, start: number, end: number, text: string, requestId = 7, version = 12) {
  return {
    range: { start: { line, character: start }, end: { line, character: end } },
    text,
    textDocument: { uri, version },
    command: { title: "Accept edit", command: "copilot.inlineEditAccepted", arguments: [requestId] },
  };
}

const edit: NextEdit = {
  uri: LIB,
  version: 12,
  start: { line: 1, character: 12 },
  end: { line: 1, character: 17 },
  text: "amount",
  requestId: 7,
  index: 0,
  command: { command: "copilot.inlineEditAccepted", arguments: [7] },
};

describe("parseEdits", () => {
  it("reads the server's edits in its order, with the request id of their command", () => {
    const edits = parseEdits({ edits: [wire(LIB, 1, 12, 17, "amount"), wire(MAIN, 3, 6, 15, "price_after_tax", 7, 1)] });
    assert.deepEqual(edits[0], edit);
    assert.equal(edits[1].uri, MAIN);
    assert.equal(edits[1].index, 1);
    assert.equal(edits[1].version, 1);
    assert.deepEqual([edits[1].start, edits[1].end], [{ line: 3, character: 6 }, { line: 3, character: 15 }]);
  });

  it("is empty for no edits, null, or another shape", () => {
    assert.deepEqual(parseEdits({ edits: [] }), []);
    assert.deepEqual(parseEdits(null), []);
    assert.deepEqual(parseEdits(undefined), []);
    assert.deepEqual(parseEdits({ items: [] }), []);
    assert.deepEqual(parseEdits({ edits: "no" }), []);
  });

  it("leaves out malformed edits and keeps the others", () => {
    const good = wire(LIB, 2, 17, 22, "amount");
    const edits = parseEdits({
      edits: [
        null,
        { ...good, text: 3 },
        { ...good, textDocument: {} },
        { ...good, range: { start: { line: 2, character: 22 }, end: { line: 2, character: 17 } } }, // backwards
        { ...good, range: { start: { line: -1, character: 0 }, end: { line: 0, character: 0 } } },
        { ...good, range: { start: { line: 1.5, character: 0 }, end: { line: 2, character: 0 } } },
        good,
      ],
    });
    assert.equal(edits.length, 1);
    assert.deepEqual(edits[0].start, { line: 2, character: 17 });
    assert.equal(edits[0].index, 6, "its place in the server's answer");
  });

  it("an edit without a command or version has no request id or version", () => {
    const { command: _, ...bare } = wire(LIB, 0, 0, 0, "x");
    const [parsed] = parseEdits({ edits: [{ ...bare, textDocument: { uri: LIB } }] });
    assert.equal(parsed.requestId, undefined);
    assert.equal(parsed.command, undefined);
    assert.equal(parsed.version, undefined);
    const [odd] = parseEdits({ edits: [{ ...bare, command: { command: "c", arguments: ["x"] } }] });
    assert.equal(odd.requestId, undefined);
    assert.deepEqual(odd.command, { command: "c", arguments: ["x"] });
  });
});

describe("Tab: jump, then accept", () => {
  it("jumps from elsewhere in the document, or from another document", () => {
    assert.equal(tabAction(LIB, { line: 0, character: 20 }, edit), "jump");
    assert.equal(tabAction(LIB, { line: 1, character: 11 }, edit), "jump");
    assert.equal(tabAction(LIB, { line: 1, character: 18 }, edit), "jump");
    assert.equal(tabAction(MAIN, { line: 1, character: 12 }, edit), "jump");
    assert.equal(tabAction(undefined, undefined, edit), "jump");
  });

  it("accepts with the cursor in the replaced range, ends included", () => {
    for (const character of [12, 14, 17]) {
      assert.equal(tabAction(LIB, { line: 1, character }, edit), "accept", String(character));
    }
  });

  it("an insertion: at its place only", () => {
    const insertion = { ...edit, end: edit.start, text: ", timeout=5" };
    assert.equal(atEdit(LIB, { line: 1, character: 12 }, insertion), true);
    assert.equal(atEdit(LIB, { line: 1, character: 13 }, insertion), false);
  });

  it("a multi-line range", () => {
    const wide = { ...edit, start: { line: 1, character: 30 }, end: { line: 3, character: 2 } };
    assert.equal(atEdit(LIB, { line: 2, character: 0 }, wide), true);
    assert.equal(atEdit(LIB, { line: 3, character: 3 }, wide), false);
    assert.equal(comparePos({ line: 1, character: 9 }, { line: 2, character: 0 }) < 0, true);
  });
});

describe("what the decorations say", () => {
  it("the new text on one line, cut when long", () => {
    assert.equal(preview("amount"), "amount");
    assert.equal(preview("a\nb\r\nc"), "a⏎b⏎c");
    assert.equal(preview("\tx"), "    x");
    assert.equal(preview("x".repeat(200), 10), `${"x".repeat(9)}…`);
  });

  it("the hint for an edit in another file", () => {
    const other = { ...edit, uri: MAIN, start: { line: 3, character: 6 }, end: { line: 3, character: 15 }, text: "price_after_tax" };
    assert.equal(hintText(other, baseName(MAIN), "net_price"), "Tab ⇥ main.py:4: net_price → price_after_tax");
    assert.equal(hintText({ ...other, end: other.start }, "main.py", ""), "Tab ⇥ main.py:4: insert price_after_tax");
  });

  it("file names from URIs", () => {
    assert.equal(baseName("file:///w/my%20shop/a%20b.py"), "a b.py");
    assert.equal(baseName("untitled:Untitled-1"), "untitled:Untitled-1");
    assert.equal(baseName("file:///w/x.py?query#frag"), "x.py");
    assert.equal(baseName("file:///w/%E0%A4%A.py"), "%E0%A4%A.py");
  });
});

describe("ShownOnce", () => {
  it("once per request id", () => {
    const once = new ShownOnce();
    assert.equal(once.first(1), true);
    assert.equal(once.first(1), false);
    assert.equal(once.first(2), true);
    once.clear();
    assert.equal(once.first(1), true);
  });

  it("forgets the oldest past its capacity", () => {
    const once = new ShownOnce(2);
    once.first(1);
    once.first(2);
    once.first(3);
    assert.equal(once.first(1), true);
    assert.equal(once.first(3), false);
  });
});

describe("nextEditSettings", () => {
  it("the defaults for missing or wrong values", () => {
    assert.deepEqual(nextEditSettings(undefined, undefined), { enabled: true, delayMs: DEFAULT_DELAY_MS });
    assert.deepEqual(nextEditSettings("no", -5), { enabled: true, delayMs: DEFAULT_DELAY_MS });
    assert.deepEqual(nextEditSettings(false, 0), { enabled: false, delayMs: 0 });
    assert.deepEqual(nextEditSettings(true, Number.NaN), { enabled: true, delayMs: DEFAULT_DELAY_MS });
  });
});
