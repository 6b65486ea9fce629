// Reconnection against the real server: a dropped socket resumes with every event once and in
// order, calls made meanwhile wait, calls in flight fail, a gap asks for a resync, and the closes
// that are final (4003, 4008) stay final.

import assert from "node:assert/strict";
import { test } from "node:test";
import { WarrenError } from "../src/index.js";
import { serverForThisFile } from "./support/server.js";
import {
  PASSWORD,
  newPlayer,
  nextLocal,
  Recorder,
  recordingSocket,
  rejection,
  uniqueName,
  waitUntil,
  warren,
} from "./support/util.js";

const server = serverForThisFile();

/** An owner of a private room who can send `victim` one `private_room.invited` per call. */
async function inviter(url: string, victim: string) {
  const host = await newPlayer(warren(url), "host");
  const room = await host.client.privateRooms.create({ mode: "relay", max_players: 2 });
  return {
    client: host.client,
    invite: () => host.client.privateRooms.invite({ room_id: room.room_id, user_id: victim }),
  };
}

test(
  "a dropped socket reconnects and resumes: every seq once, in order",
  { timeout: 60_000 },
  async () => {
    const Socket = recordingSocket();
    const w = warren(server.url, { WebSocket: Socket });
    const a = await newPlayer(w, "victim");
    const host = await inviter(server.url, a.userId);
    const states: string[] = [];
    a.client.on("state", (state) => states.push(state));
    try {
      for (let i = 0; i < 3; i++) await host.invite();
      await a.events.waitForCount("private_room.invited", 3);

      // The server is out of reach for a while: the socket drops and attempts fail.
      Socket.unreachable = true;
      const reconnecting = nextLocal(a.client, "state", (s) => s === "reconnecting");
      Socket.last().terminate();
      await reconnecting;
      const meanwhile = a.client.accounts.me(); // waits for the resumed socket
      for (let i = 0; i < 5; i++) await host.invite();
      await waitUntil(() => Socket.instances.length >= 3, "two attempts have failed");
      assert.equal(a.events.seen.length, 3, "nothing arrives while away");

      Socket.unreachable = false;
      await a.events.waitForCount("private_room.invited", 8);
      assert.equal((await meanwhile).user_id, a.userId);
      assert.equal(a.client.state, "open");

      await host.invite(); // live again
      await a.events.waitForCount("private_room.invited", 9);
      const seqs = a.events.seen.map((event) => event.seq);
      assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.equal(a.client.lastSeq, 9);
      assert.deepEqual(states, ["reconnecting", "open"]);

      // Saved tokens and lastSeq on another client: what came after it is replayed, once.
      const other = await w.connect(a.client.tokens, { lastSeq: 4 });
      const replayed = new Recorder(other);
      try {
        await replayed.waitForCount("private_room.invited", 5);
        await host.invite();
        await replayed.waitForCount("private_room.invited", 6);
        assert.deepEqual(
          replayed.seen.map((event) => event.seq),
          [5, 6, 7, 8, 9, 10],
        );
      } finally {
        await other.close();
      }
    } finally {
      await Promise.all([a.client.close(), host.client.close()]);
    }
  },
);

test(
  "calls in flight when the socket drops reject with connection_lost",
  { timeout: 30_000 },
  async () => {
    const Socket = recordingSocket();
    const w = warren(server.url, { WebSocket: Socket });
    const a = await newPlayer(w);
    try {
      await a.client.accounts.me();
      Socket.last().swallow = true;
      const inFlight = a.client.accounts.me();
      const reopened = nextLocal(a.client, "state", (s) => s === "open");
      Socket.last().terminate();
      const lost = await rejection(inFlight);
      assert.ok(lost instanceof WarrenError);
      assert.equal(lost.code, "connection_lost");
      assert.equal(lost.method, "accounts.me");
      await reopened;
      assert.equal((await a.client.accounts.me()).user_id, a.userId);
      assert.equal(Socket.instances.length, 2);
    } finally {
      await a.client.close();
    }
  },
);

test("resume_gap emits resync and the stream goes on", { timeout: 30_000 }, async () => {
  const w = warren(server.url);
  const a = await newPlayer(w, "gap");
  const host = await inviter(server.url, a.userId);
  const tokens = a.client.tokens;
  await a.client.close();
  const client = await w.connect(tokens, { lastSeq: 999 });
  const events = new Recorder(client);
  try {
    await nextLocal(client, "resync");
    assert.equal(client.state, "open");
    await host.invite();
    const invited = await events.waitFor("private_room.invited");
    assert.equal(invited.seq, 1, "a position past the end was given up for the real one");
    assert.equal(client.lastSeq, 1);
  } finally {
    await Promise.all([client.close(), host.client.close()]);
  }
});

test(
  "4003 after logout({all: true}) from another login is final",
  { timeout: 30_000 },
  async () => {
    const Socket = recordingSocket();
    const w = warren(server.url, { WebSocket: Socket });
    const username = uniqueName("everywhere");
    await w.register(username, PASSWORD);
    const first = await w.login(username, PASSWORD);
    const second = await warren(server.url).login(username, PASSWORD);
    const firstClosed = nextLocal(first, "closed");
    const secondClosed = nextLocal(second, "closed");
    const states: string[] = [];
    first.on("state", (state) => states.push(state));

    await second.logout({ all: true });
    const [info] = await firstClosed;
    assert.equal(info.code, 4003);
    assert.equal(first.state, "closed");
    assert.deepEqual(states, ["closed"], "never reconnecting");
    const [own] = await secondClosed;
    assert.deepEqual(own, { code: 1000, reason: "logged out" });

    const refused = await rejection(first.accounts.me());
    assert.equal(refused.code, "closed");
    // The tokens of an ended login cannot connect again.
    const again = await rejection(w.connect(first.tokens));
    assert.ok(again instanceof WarrenError);
    assert.equal(again.code, "unauthorized");
    // A full round trip later, still nothing was opened for the first client.
    const third = await w.login(username, PASSWORD);
    await third.accounts.me();
    await third.close();
    assert.equal(Socket.instances.length, 3, "first's socket, the refused connect, third's");
    assert.equal(first.state, "closed");
  },
);

test(
  "4008: the oldest socket, replaced by a newer one, closes for good",
  { timeout: 30_000 },
  async () => {
    const w = warren(server.url);
    const a = await newPlayer(w, "many");
    const replaced = nextLocal(a.client, "closed");
    const others = [];
    try {
      for (let i = 0; i < 5; i++) others.push(await w.connect(a.client.tokens));
      const [info] = await replaced;
      assert.equal(info.code, 4008);
      assert.equal(a.client.state, "closed");
      for (const other of others) assert.equal(other.state, "open");
      assert.equal((await others.at(-1)!.accounts.me()).user_id, a.userId);
    } finally {
      await Promise.all(others.map((other) => other.close()));
    }
  },
);

test(
  "a fresh login learns the position and replays none of the user's history",
  { timeout: 30_000 },
  async () => {
    const w = warren(server.url);
    const a = await newPlayer(w, "history");
    const host = await inviter(server.url, a.userId);
    try {
      for (let i = 0; i < 3; i++) await host.invite();
      await a.events.waitForCount("private_room.invited", 3);
      await a.client.close();

      const again = await w.login(a.username, PASSWORD);
      const events = new Recorder(again);
      await waitUntil(() => again.lastSeq === 3, "the position is learnt");
      await host.invite();
      await events.waitForCount("private_room.invited", 1);
      assert.deepEqual(
        events.seen.map((event) => event.seq),
        [4],
      );
    } finally {
      await host.client.close();
    }
  },
);
