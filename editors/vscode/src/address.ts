// copilotLsp.server.address: the "HOST:PORT" of a running `copilot-lsp serve --tcp HOST:PORT`,
// parsed as the server parses --tcp (lsp/listen.py), and the connection to it.
// No `vscode` import, so `node --test` covers it.
import * as net from "node:net";

export const DEFAULT_HOST = "127.0.0.1";
export const SETTING = "copilotLsp.server.address";

export type Address = { ok: true; host: string; port: number; text: string } | { ok: false; message: string };

/** `HOST:PORT`, `[IPv6]:PORT`, `IPv6:PORT` or `:PORT` (127.0.0.1): the port is after the last colon. */
export function parseAddress(spec: string): Address {
  const trimmed = spec.trim();
  const bad: Address = {
    ok: false,
    message: `${SETTING} must be HOST:PORT with a port from 1 to 65535 (e.g. 127.0.0.1:2087, [::1]:2087 or :2087), got ${JSON.stringify(spec)}`,
  };
  const match = /^(.*):(\d+)$/.exec(trimmed);
  if (!match) {
    return bad;
  }
  const port = Number(match[2]);
  if (!(port >= 1 && port <= 65535)) {
    return bad;
  }
  let host = match[1];
  const bracketed = /^\[(.*:.*)\]$/.exec(host);
  if (bracketed) {
    host = bracketed[1];
  } else if (host === "") {
    host = DEFAULT_HOST;
  } else if (!host.includes(":") && !/^[\w.-]+$/.test(host)) {
    return bad; // spaces, a scheme, a path, an unclosed bracket
  }
  if (host.includes(":") && !net.isIPv6(host.split("%")[0])) {
    return bad; // a colon in the host: an IPv6 address ("[::1]:2087" or "::1:2087")
  }
  return { ok: true, host, port, text: formatAddress(host, port) };
}

export function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A TCP connection to the server, once it is up; rejects with a message that says what to do. */
export function connect(host: string, port: number, timeoutMs = 10_000): Promise<net.Socket> {
  const where = formatAddress(host, port);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(
        `cannot connect to the server at ${where} (${why}): start it with \`copilot-lsp serve --tcp ${where}\``
        + ` (make run), or clear ${SETTING} to let the extension start its own`,
      ));
    };
    const timer = setTimeout(() => fail(`no answer in ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
    const failed = (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(error.code ?? error.message);
    };
    socket.once("error", failed);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", failed);
      // Later errors (a reset) close the connection, which the client reports: never an uncaught one.
      socket.on("error", () => undefined);
      socket.setNoDelay(true); // streamed partial completions go out as they come
      resolve(socket);
    });
  });
}
