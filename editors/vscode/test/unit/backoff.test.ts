import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Backoff } from "../../src/backoff";

describe("Backoff", () => {
  const options = { firstMs: 1000, maxMs: 8000, healthyAfterMs: 60_000, maxInRow: 5 };

  it("doubles up to the maximum, then gives up", () => {
    const backoff = new Backoff(options);
    const delays: (number | undefined)[] = [];
    for (let i = 0; i < 6; i++) {
      backoff.started(i * 100);
      delays.push(backoff.crashed(i * 100 + 50));
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000, undefined]);
  });

  it("starts again from the first delay after a healthy run", () => {
    const backoff = new Backoff(options);
    backoff.started(0);
    backoff.crashed(10);
    backoff.started(20);
    assert.equal(backoff.crashed(30), 2000);
    backoff.started(100);
    assert.equal(backoff.crashed(100 + 60_000), 1000);
    assert.equal(backoff.inRow, 1);
  });

  it("a crash before the server ever ran counts too", () => {
    const backoff = new Backoff(options);
    assert.equal(backoff.crashed(0), 1000);
    assert.equal(backoff.crashed(1), 2000);
  });

  it("reset: the user asked for a restart", () => {
    const backoff = new Backoff(options);
    backoff.crashed(0);
    backoff.crashed(1);
    backoff.reset();
    assert.equal(backoff.crashed(2), 1000);
  });
});
