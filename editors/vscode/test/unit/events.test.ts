import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { advance, SuggestionTracker } from "../../src/events";

const uri = "file:///a.py";
const suggestion = (requestId: number, text: string, character = 4) => ({ requestId, uri, line: 2, character, text });
const insert = (character: number, text: string, line = 2) => ({ line, character, rangeLength: 0, text });

describe("advance", () => {
  it("moves along a line and across lines", () => {
    assert.deepEqual(advance(2, 4, "ab"), { line: 2, character: 6 });
    assert.deepEqual(advance(2, 4, "ab\n  c"), { line: 3, character: 3 });
    assert.deepEqual(advance(2, 4, ""), { line: 2, character: 4 });
  });
});

describe("SuggestionTracker", () => {
  it("shown once per request, even when re-triggered while streaming", () => {
    const tracker = new SuggestionTracker();
    assert.deepEqual(tracker.shown(suggestion(1, "re")), [{ requestId: 1, event: "shown" }]);
    assert.deepEqual(tracker.shown(suggestion(1, "return")), []);
  });

  it("accepted when the item's command runs after the text went in", () => {
    const tracker = new SuggestionTracker();
    tracker.shown(suggestion(1, "return x"));
    assert.deepEqual(tracker.changed(uri, [insert(4, "return x")]), []);
    assert.deepEqual(tracker.accepted(1), [{ requestId: 1, event: "accepted", acceptedChars: 8 }]);
    assert.equal(tracker.active, undefined);
  });

  it("typing the start keeps it; then another suggestion makes it a partial acceptance", () => {
    const tracker = new SuggestionTracker();
    tracker.shown(suggestion(1, "return x"));
    assert.deepEqual(tracker.changed(uri, [insert(4, "r")]), []);
    assert.deepEqual(tracker.changed(uri, [insert(5, "et")]), []);
    assert.equal(tracker.active?.typed, "ret");
    assert.deepEqual(tracker.shown(suggestion(2, "urn x", 7)), [
      { requestId: 1, event: "partial", acceptedChars: 3 },
      { requestId: 2, event: "shown" },
    ]);
  });

  it("typing something else dismisses it", () => {
    const tracker = new SuggestionTracker();
    tracker.shown(suggestion(1, "return x"));
    assert.deepEqual(tracker.changed(uri, [insert(4, "x")]), [{ requestId: 1, event: "dismissed" }]);
    assert.deepEqual(tracker.changed(uri, [insert(5, "y")]), [], "only once");
  });

  it("an edit elsewhere, or a deletion, ends it", () => {
    for (const change of [insert(0, "r", 0), { line: 2, character: 3, rangeLength: 1, text: "" }]) {
      const tracker = new SuggestionTracker();
      tracker.shown(suggestion(1, "return x"));
      assert.deepEqual(tracker.changed(uri, [change]), [{ requestId: 1, event: "dismissed" }], JSON.stringify(change));
    }
  });

  it("another document's changes do not matter", () => {
    const tracker = new SuggestionTracker();
    tracker.shown(suggestion(1, "return x"));
    assert.deepEqual(tracker.changed("file:///b.py", [insert(0, "zzz")]), []);
  });

  it("typing through a multi-line suggestion follows the lines", () => {
    const tracker = new SuggestionTracker();
    tracker.shown(suggestion(1, "if x:\n        y"));
    assert.deepEqual(tracker.changed(uri, [insert(4, "if x:\n")]), []);
    assert.deepEqual(tracker.changed(uri, [insert(0, "    ", 3)]), []);
    assert.deepEqual(tracker.dismissed(), [{ requestId: 1, event: "partial", acceptedChars: 10 }]);
  });

  it("Escape dismisses; a command for an older request still counts it accepted", () => {
    const tracker = new SuggestionTracker();
    tracker.shown(suggestion(1, "a"));
    assert.deepEqual(tracker.dismissed(), [{ requestId: 1, event: "dismissed" }]);
    assert.deepEqual(tracker.dismissed(), []);
    assert.deepEqual(tracker.accepted(7), [{ requestId: 7, event: "accepted" }]);
  });

  it("a suggestion replaced without any typing was dismissed", () => {
    const tracker = new SuggestionTracker();
    tracker.shown(suggestion(1, "a"));
    assert.deepEqual(tracker.shown(suggestion(2, "b", 9)), [
      { requestId: 1, event: "dismissed" },
      { requestId: 2, event: "shown" },
    ]);
  });
});
