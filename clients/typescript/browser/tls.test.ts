// The lobby served over https, as a browser game is deployed: the page loads over HTTP/2 (ALPN),
// its WebSocket is wss:// and opened as a stream of that HTTP/2 connection (RFC 8441, which
// Chromium uses when the server announces it), and two players play a game through it.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { Player, type Server, launch, matchedPair, startServer, username } from "./harness.js";

let server: Server;
let browser: Browser;
let certs: string;

before(async () => {
  certs = mkdtempSync(join(tmpdir(), "warren-lobby-tls-"));
  const [cert, key] = [join(certs, "cert.pem"), join(certs, "key.pem")];
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert,
  ], { stdio: "ignore" });
  server = await startServer(["--tls-cert", cert, "--tls-key", key]);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (certs) rmSync(certs, { recursive: true, force: true });
});

/** `warren_ws_opened_total{http="…"}` on the server's admin listener. */
async function opened(http: "1.1" | "2"): Promise<number> {
  const text = await (await fetch(`${server.admin}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`warren_ws_opened_total{http="${http}"}`));
  assert.ok(line, `warren_ws_opened_total{http="${http}"} is in /metrics`);
  return Number(line.split(" ").pop());
}

test("over https the page comes by HTTP/2, its sockets by wss over it, and a game is played", async () => {
  assert.match(server.url, /^https:\/\//);
  const before = await opened("2");
  const a = await Player.open(browser, server, "tls-a", true);
  const b = await Player.open(browser, server, "tls-b", true);
  try {
    const protocol = await a.page.evaluate(
      () => (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).nextHopProtocol,
    );
    assert.equal(protocol, "h2", "the page came over HTTP/2");
    await a.register(username("tls_a"));
    await b.register(username("tls_b"));
    assert.ok((await opened("2")) >= before + 2, "both sockets are streams of an HTTP/2 connection");
    const { x, o } = await matchedPair(a, b);
    await x.move(0);
    await o.waitForMark(0, "X");
    await o.move(4);
    await x.waitForMark(4, "O");
    assert.deepEqual(a.problems, []);
    assert.deepEqual(b.problems, []);
  } finally {
    await a.close();
    await b.close();
  }
});
