import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { extendsSuggestion, Place, shouldRetrigger, Stream, Streams } from "../../src/streaming";

const place: Place = { uri: "file:///a.py", version: 3, line: 7, character: 4 };
const partial = (requestId: number, text: string, done = false, version = 3) => ({ requestId, uri: place.uri, version, text, done });

describe("extendsSuggestion", () => {
  const cases: [string, string, boolean][] = [
    ["", "a", true],
    ["ab", "abc", true],
    ["ab", "ab", false],
    ["abc", "ab", false],
    ["ab", "ax", false],
    ["ab", "xabc", false],
  ];
  for (const [shown, text, expected] of cases) {
    it(`${JSON.stringify(shown)} -> ${JSON.stringify(text)}: ${expected}`, () => assert.equal(extendsSuggestion(shown, text), expected));
  }
});

describe("shouldRetrigger", () => {
  const stream = (shown: string, returned = true): Stream =>
    ({ place, minRequestId: 0, text: shown, done: false, shown, returned, explicit: false });
  const cases: [string, boolean, string, boolean, boolean][] = [
    // shown, returned, new text, done, expected
    ["ab", true, "abc", false, true], // grows while streaming
    ["ab", false, "abc", false, false], // the provider has not returned yet: it will show it
    ["ab", true, "ab", false, false], // nothing new
    ["ab", true, "ax", false, false], // a rewrite while streaming would make the text jump
    ["abc", true, "ab", true, true], // the final text (post-processed) replaces it
    ["ab", true, "ab", true, false],
    ["ab", true, "", true, true], // the final answer is empty: take the ghost text away
  ];
  for (const [shown, returned, text, done, expected] of cases) {
    it(`${JSON.stringify(shown)} ${returned ? "returned" : "pending"} + ${JSON.stringify(text)}${done ? " (done)" : ""}: ${expected}`, () => {
      assert.equal(shouldRetrigger(stream(shown, returned), text, done), expected);
    });
  }
});

describe("Streams", () => {
  it("claims the first partial of the document version for the stream, then only that request's", () => {
    const streams = new Streams();
    const stream = streams.begin(place);
    assert.equal(streams.partial(partial(5, "x", false, 2)), undefined, "another version");
    const first = streams.partial(partial(5, "def"));
    assert.equal(first?.stream, stream);
    assert.equal(first?.retrigger, false, "the provider has not returned yet");
    assert.equal(stream.requestId, 5);
    assert.equal(streams.partial(partial(6, "other")), undefined, "another request");
    stream.returned = true;
    stream.shown = stream.text;
    assert.deepEqual(streams.partial(partial(5, "def f")), { stream, retrigger: true });
    assert.equal(stream.text, "def f");
  });

  it("ignores partials of requests sent before the stream began", () => {
    const streams = new Streams();
    streams.begin(place);
    streams.partial(partial(9, "old"));
    const stream = streams.begin({ ...place, character: 5 });
    assert.equal(streams.partial(partial(9, "old, still writing")), undefined);
    assert.ok(streams.partial(partial(10, "new")));
    assert.equal(stream.requestId, 10);
  });

  it("finds a stream only at its exact place", () => {
    const streams = new Streams();
    const stream = streams.begin(place);
    assert.equal(streams.at(place), stream);
    assert.equal(streams.at({ ...place, version: 4 }), undefined);
    assert.equal(streams.at({ ...place, character: 5 }), undefined);
    assert.equal(streams.at({ ...place, uri: "file:///b.py" }), undefined);
    streams.end(stream);
    assert.equal(streams.at(place), undefined);
  });

  it("finish: the answer's text and id win; a change after an early return re-triggers", () => {
    const streams = new Streams();
    const stream = streams.begin(place);
    streams.partial(partial(3, "abc"));
    stream.returned = true;
    stream.shown = "abc";
    assert.equal(streams.finish(stream, "ab", 3), true);
    assert.equal(stream.text, "ab");
    assert.equal(stream.done, true);
    assert.equal(streams.partial(partial(3, "abcd")), undefined, "nothing after the end");
  });

  it("a new stream for a document replaces the old one", () => {
    const streams = new Streams();
    const old = streams.begin(place);
    const now = streams.begin({ ...place, version: 4 });
    assert.equal(streams.get(place.uri), now);
    streams.end(old);
    assert.equal(streams.get(place.uri), now, "ending a replaced stream leaves the new one");
  });
});
