// Access tokens that expire mid-session (the server issues them for one second): refreshed
// before a reconnect, refreshed after a refused upgrade, and never refreshed twice with one
// refresh token; a login lost to a reused refresh token closes the client for good.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { WarrenError } from "../src/index.js";
import type { FetchFunction, Tokens } from "../src/index.js";
import { serverForThisFile } from "./support/server.js";
import {
  PASSWORD,
  newPlayer,
  nextLocal,
  recordingSocket,
  rejection,
  uniqueName,
  waitUntil,
  warren,
} from "./support/util.js";

const server = serverForThisFile(["--access-token-ttl", "1s"]);

/** Every refresh token sent to /v1/auth/refresh by any client of this file. */
const refreshesSent: string[] = [];
const countingFetch: FetchFunction = async (input, init) => {
  if (input.endsWith("/v1/auth/refresh") && typeof init?.body === "string") {
    refreshesSent.push(JSON.parse(init.body).refresh_token);
  }
  return fetch(input, init);
};

/** The gateway allows five seconds of clock difference on `exp`. */
const GATEWAY_LEEWAY_MS = 5_000;

after(() => {
  assert.equal(
    new Set(refreshesSent).size,
    refreshesSent.length,
    "no refresh token was sent twice",
  );
});

test(
  "stale tokens are refreshed before reconnecting, and 'tokens' fires",
  { timeout: 30_000 },
  async () => {
    const Socket = recordingSocket();
    const w = warren(server.url, { WebSocket: Socket, fetch: countingFetch });
    const a = await newPlayer(w, "stale");
    try {
      const before = a.client.tokens;
      assert.equal(before.expires_in, 1);
      const refreshed = nextLocal(a.client, "tokens");
      const reopened = nextLocal(a.client, "state", (s) => s === "open");
      Socket.last().terminate();
      const [tokens] = (await refreshed) as [Tokens];
      await reopened;
      assert.notEqual(tokens.refresh_token, before.refresh_token);
      assert.ok(tokens.expires_at > before.expires_at);
      assert.deepEqual(a.client.tokens, tokens);
      assert.equal(Socket.instances.length, 2, "the new token opened the first time");
      assert.equal((await a.client.accounts.me()).user_id, a.userId);
    } finally {
      await a.client.close();
    }
  },
);

test("an upgrade refused with 401 refreshes and retries", { timeout: 30_000 }, async () => {
  const Socket = recordingSocket();
  const w = warren(server.url, { WebSocket: Socket, fetch: countingFetch });
  const username = uniqueName("expired");
  await w.register(username, PASSWORD);
  const login = await w.login(username, PASSWORD);
  const issued = login.tokens;
  await login.close();
  // Saved with a wrong expiry, so that the client only learns of the expiry from the refusal.
  const client = await w.connect({ ...issued, expires_at: Date.now() + 3_600_000 });
  try {
    assert.equal(client.tokens.refresh_token, issued.refresh_token, "no refresh yet");
    await waitUntil(
      () => Date.now() > issued.expires_at + GATEWAY_LEEWAY_MS + 1_000,
      "the access token has expired at the gateway",
    );
    const refreshed = nextLocal(client, "tokens");
    const reopened = nextLocal(client, "state", (s) => s === "open");
    const opened = Socket.instances.length;
    Socket.last().terminate();
    const [tokens] = (await refreshed) as [Tokens];
    await reopened;
    assert.notEqual(tokens.refresh_token, issued.refresh_token);
    assert.equal(
      Socket.instances.length,
      opened + 2,
      "one refused with 401, one opened with the new token",
    );
    assert.equal((await client.accounts.me()).username, username);
  } finally {
    await client.close();
  }
});

test(
  "a refresh token used elsewhere ends the login: closed for good with unauthorized",
  { timeout: 30_000 },
  async () => {
    const Socket = recordingSocket();
    const w = warren(server.url, { WebSocket: Socket, fetch: countingFetch });
    const a = await newPlayer(w, "stolen");
    // Someone else spends the client's refresh token first.
    const stolen = await fetch(`${server.url}/v1/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: a.client.tokens.refresh_token }),
    });
    assert.equal(stolen.status, 200);
    const closed = nextLocal(a.client, "closed");
    const reconnecting = nextLocal(a.client, "state", (s) => s === "reconnecting");
    Socket.last().terminate();
    await reconnecting;
    const waiting = rejection(a.client.accounts.me()); // queued for the socket that never comes
    const [info] = await closed;
    assert.equal(info.code, 4003);
    assert.ok(info.error instanceof WarrenError);
    assert.equal(info.error.code, "unauthorized");
    assert.equal(a.client.state, "closed");
    const error = await waiting;
    assert.equal(error.code, "unauthorized");
    assert.equal(Socket.instances.length, 1, "no socket was opened after the login ended");
  },
);
