// Register, login, the account calls, and how refused calls and time-outs surface.

import assert from "node:assert/strict";
import { test } from "node:test";
import { WarrenError } from "../src/index.js";
import { serverForThisFile } from "./support/server.js";
import {
  PASSWORD,
  newPlayer,
  recordingSocket,
  rejection,
  uniqueName,
  warren,
} from "./support/util.js";

const server = serverForThisFile();

test("register, login, accounts.me and accounts.get", { timeout: 30_000 }, async () => {
  const w = warren(server.url);
  const username = uniqueName("alice");
  const registered = await w.register(username, PASSWORD);
  assert.match(registered.user_id, /.+/);

  const client = await w.login(username, PASSWORD);
  try {
    assert.equal(client.userId, registered.user_id);
    assert.equal(client.state, "open");
    assert.equal(typeof client.tokens.access_token, "string");
    assert.ok(client.tokens.expires_at > Date.now(), "expires_at is in the future");
    assert.equal(client.lastSeq, 0);

    const me = await client.accounts.me();
    assert.equal(me.user_id, registered.user_id);
    assert.equal(me.username, username);
    assert.equal(me.rating, 1000);
    assert.equal(me.games_played, 0);

    const other = await newPlayer(w, "bob");
    try {
      const view = await client.accounts.get({ user_id: other.userId });
      assert.equal(view.username, other.username);
      // The same method by name.
      const byName = await client.call("accounts.get", { user_id: other.userId });
      assert.deepEqual(byName, view);
    } finally {
      await other.client.close();
    }

    const renamed = await client.updateDisplayName("  Alice  ");
    assert.equal(renamed.display_name, "Alice");
    assert.equal((await client.accounts.me()).display_name, "Alice");
  } finally {
    await client.close();
  }
  assert.equal(client.state, "closed");
});

test("HTTP errors carry the server's code and status", { timeout: 30_000 }, async () => {
  const w = warren(server.url);
  const username = uniqueName("carol");
  await w.register(username, PASSWORD);

  const taken = await rejection(w.register(username.toUpperCase(), PASSWORD));
  assert.ok(taken instanceof WarrenError);
  assert.equal(taken.code, "already_exists");
  assert.equal(taken.status, 409);

  const wrong = await rejection(w.login(username, "not the password"));
  assert.ok(wrong instanceof WarrenError);
  assert.equal(wrong.code, "unauthorized");
  assert.equal(wrong.status, 401);

  const short = await rejection(w.register(uniqueName("dave"), "short"));
  assert.equal(short.code, "invalid_params");
  assert.equal(short.status, 422);

  const client = await w.login(username, PASSWORD);
  try {
    const bad = await rejection(client.updateDisplayName("\u202Eevil"));
    assert.equal(bad.code, "invalid_params");
    assert.equal(bad.status, 422);
  } finally {
    await client.close();
  }
});

test(
  "refused calls reject with WarrenError and leave the socket open",
  { timeout: 30_000 },
  async () => {
    const w = warren(server.url);
    const { client } = await newPlayer(w);
    try {
      const missing = await rejection(client.rooms.join({ room_id: "no-such-room" }));
      assert.ok(missing instanceof WarrenError);
      assert.equal(missing.code, "not_found");
      assert.equal(missing.rpcCode, -32000);
      assert.equal(missing.method, "rooms.join");

      const badParams = await rejection(client.rooms.list({ limit: 1000 }));
      assert.equal(badParams.code, "invalid_params");
      assert.equal(badParams.rpcCode, -32602);

      const wrongShape = await rejection(
        client.rooms.create({ mode: "tic-tac-toe", max_players: "two" } as never),
      );
      assert.equal(wrongShape.code, "invalid_params");

      const unknown = await rejection(client.call("rooms.nope" as never, {} as never));
      assert.equal(unknown.code, "unknown_method");
      assert.equal(unknown.rpcCode, -32601);

      assert.equal(client.state, "open");
      assert.equal((await client.accounts.me()).user_id, client.userId);
    } finally {
      await client.close();
    }
  },
);

test("a call that is not answered in time rejects with timeout", { timeout: 30_000 }, async () => {
  const Socket = recordingSocket();
  const w = warren(server.url, { WebSocket: Socket });
  const { client } = await newPlayer(w);
  try {
    await client.accounts.me(); // the socket has resumed: calls go straight out
    Socket.last().swallow = true;
    const started = Date.now();
    const late = await rejection(client.accounts.me(undefined, { timeoutMs: 300 }));
    assert.ok(late instanceof WarrenError);
    assert.equal(late.code, "timeout");
    assert.equal(late.method, "accounts.me");
    assert.ok(Date.now() - started >= 290, "not before its time-out");
    Socket.last().swallow = false;
    assert.equal(client.state, "open");
    assert.equal((await client.accounts.me()).user_id, client.userId);
  } finally {
    await client.close();
  }
});

test("calls after close reject with closed", { timeout: 30_000 }, async () => {
  const w = warren(server.url);
  const { client } = await newPlayer(w);
  const closed = new Promise((resolve) => client.on("closed", resolve));
  await client.close();
  assert.deepEqual(await closed, { code: 1000, reason: "closed by the client" });
  const error = await rejection(client.accounts.me());
  assert.equal(error.code, "closed");
});
