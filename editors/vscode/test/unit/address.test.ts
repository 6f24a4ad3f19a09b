import assert from "node:assert/strict";
import * as net from "node:net";
import { describe, it } from "node:test";
import { connect, formatAddress, parseAddress } from "../../src/address";

describe("parseAddress", () => {
  const good: [string, string, number][] = [
    ["127.0.0.1:2087", "127.0.0.1", 2087],
    ["localhost:2087", "localhost", 2087],
    ["[::1]:2087", "::1", 2087],
    ["::1:2087", "::1", 2087],
    ["[fe80::1%lo]:80", "fe80::1%lo", 80],
    [":2087", "127.0.0.1", 2087],
    [" 127.0.0.1:2087 ", "127.0.0.1", 2087],
    ["my-host.example:65535", "my-host.example", 65535],
  ];
  for (const [spec, host, port] of good) {
    it(`takes ${JSON.stringify(spec)}`, () => {
      const parsed = parseAddress(spec);
      assert.ok(parsed.ok, JSON.stringify(parsed));
      assert.deepEqual([parsed.host, parsed.port], [host, port]);
      assert.equal(parsed.text, formatAddress(host, port));
    });
  }

  for (const spec of ["127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "tcp://127.0.0.1:2087", "a b:1", "[::1:2087", "1:2:3", "[localhost]:1"]) {
    it(`refuses ${JSON.stringify(spec)} with one message naming the setting`, () => {
      const parsed = parseAddress(spec);
      assert.equal(parsed.ok, false);
      assert.equal(
        !parsed.ok && parsed.message,
        `copilotLsp.server.address must be HOST:PORT with a port from 1 to 65535 (e.g. 127.0.0.1:2087, [::1]:2087 or :2087), got ${JSON.stringify(spec)}`,
      );
    });
  }

  it("brackets IPv6 hosts when it writes them", () => {
    assert.equal(formatAddress("::1", 2087), "[::1]:2087");
    assert.equal(formatAddress("127.0.0.1", 2087), "127.0.0.1:2087");
  });
});

describe("connect", () => {
  it("resolves with the socket once connected", async () => {
    const server = net.createServer((socket) => socket.end("hello"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const socket = await connect("127.0.0.1", port);
      const data = await new Promise<string>((resolve) => socket.once("data", (chunk) => resolve(chunk.toString())));
      assert.equal(data, "hello");
      socket.destroy();
    } finally {
      server.close();
    }
  });

  it("rejects with what to do when nothing listens", async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    await assert.rejects(connect("127.0.0.1", port), {
      message: `cannot connect to the server at 127.0.0.1:${port} (ECONNREFUSED): start it with \`copilot-lsp serve --tcp 127.0.0.1:${port}\``
        + " (make run), or clear copilotLsp.server.address to let the extension start its own",
    });
  });
});
