// Public rooms from creation to a started game, and a tic-tac-toe session played to a win.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Client } from "../src/index.js";
import { serverForThisFile } from "./support/server.js";
import { type Recorder, newPlayer, rejection, warren } from "./support/util.js";

const server = serverForThisFile();

interface Board {
  board: string[];
  turn: string;
  winner: string | null;
  players: [string, string];
  draw: boolean;
}

test(
  "rooms: create, list, join, ready, leave, and a full ready room starts a session",
  { timeout: 60_000 },
  async () => {
    const w = warren(server.url);
    const a = await newPlayer(w, "ra");
    const b = await newPlayer(w, "rb");
    const c = await newPlayer(w, "rc");
    try {
      const name = `room of ${a.username}`;
      const room = await a.client.rooms.create({ mode: "tic-tac-toe", max_players: 2, name });
      assert.equal(room.owner, a.userId);
      assert.equal(room.free_seats, 1);
      assert.equal(room.status, "open");
      assert.deepEqual(room.players, [{ user_id: a.userId, ready: false }]);

      const listed = await b.client.rooms.list({ mode: "tic-tac-toe" });
      assert.ok(
        listed.some((r) => r.room_id === room.room_id),
        "the new room is listed",
      );
      const all = await b.client.rooms.list(); // params are optional here
      assert.ok(all.some((r) => r.room_id === room.room_id));

      // c joins and leaves again: a sees both.
      const joinedByC = await c.client.rooms.join({ room_id: room.room_id });
      assert.equal(joinedByC.free_seats, 0);
      await a.events.waitFor(
        "room.updated",
        (r) => r.room_id === room.room_id && r.players.length === 2,
      );
      assert.deepEqual(await c.client.rooms.leave({ room_id: room.room_id }), {});
      await a.events.waitFor(
        "room.updated",
        (r) =>
          r.room_id === room.room_id && r.players.length === 1 && r.version > joinedByC.version,
      );

      // Already in a room: a second one is refused.
      const twice = await rejection(a.client.rooms.create({ mode: "tic-tac-toe", max_players: 2 }));
      assert.equal(twice.code, "already_in_room");

      await b.client.rooms.join({ room_id: room.room_id });
      const readyA = await a.client.rooms.ready({ room_id: room.room_id, ready: true });
      assert.equal(readyA.players.find((p) => p.user_id === a.userId)?.ready, true);
      await b.client.rooms.ready({ room_id: room.room_id, ready: true });

      const [startedA, startedB] = await Promise.all([
        a.events.waitFor("session.started"),
        b.events.waitFor("session.started"),
      ]);
      assert.equal(startedA.data.session_id, startedB.data.session_id);
      assert.equal(startedA.data.game, "tic-tac-toe");
      assert.deepEqual([...startedA.data.players].sort(), [a.userId, b.userId].sort());
      for (const player of [a, b]) {
        const closed = await player.events.waitFor(
          "room.closed",
          (d) => d.room_id === room.room_id,
        );
        assert.equal(closed.data.reason, "started");
        assert.equal(closed.data.session_id, startedA.data.session_id);
        // session.started comes before room.closed.
        assert.ok(closed.seq > player.events.of("session.started")[0]!.seq);
        assertInOrder(player.events);
      }
      await playToAWin(a.client, a.events, b.client, b.events, startedA.data.session_id);
    } finally {
      await Promise.all([a.client.close(), b.client.close(), c.client.close()]);
    }
  },
);

/** X takes the top row while O answers in the middle row: X wins. */
async function playToAWin(
  a: Client,
  aEvents: Recorder,
  b: Client,
  bEvents: Recorder,
  sessionId: string,
): Promise<void> {
  const session = await a.sessions.join({ session_id: sessionId });
  assert.equal(session.status, "running");
  assert.equal(session.version, 0);
  assert.deepEqual((await b.sessions.join({ session_id: sessionId })).session_id, sessionId);
  const state = session.state as Board;
  const x =
    state.turn === a.userId ? { client: a, events: aEvents } : { client: b, events: bEvents };
  const o = x.client === a ? { client: b, events: bEvents } : { client: a, events: aEvents };

  const notYours = await rejection(
    o.client.sessions.command({ session_id: sessionId, command: { cell: 4 } }),
  );
  assert.equal(notYours.code, "not_your_turn");

  const moves: Array<[typeof x, number]> = [
    [x, 0],
    [o, 3],
    [x, 1],
    [o, 4],
    [x, 2],
  ];
  for (const [player, cell] of moves) {
    assert.deepEqual(
      await player.client.sessions.command({ session_id: sessionId, command: { cell } }),
      {},
    );
  }
  const taken = await rejection(
    o.client.sessions.command({ session_id: sessionId, command: { cell: 0 } }),
  );
  assert.equal(taken.code, "game_over");

  for (const player of [x, o]) {
    const states = await player.events.waitForCount("session.state", 5);
    assert.deepEqual(
      states.map((s) => s.data.version),
      [1, 2, 3, 4, 5],
    );
    const last = states.at(-1)!.data.state as Board;
    assert.deepEqual(last.board.slice(0, 3), ["X", "X", "X"]);
    assert.equal(last.winner, x.client.userId);

    const finished = await player.events.waitFor(
      "session.finished",
      (d) => d.session_id === sessionId,
    );
    assert.equal(finished.data.winner, x.client.userId);
    const rating = await player.events.waitFor("rating.changed", (d) => d.session_id === sessionId);
    // protocol.md has rating.changed just before session.finished; the server sends it just
    // after (reported), so only its arrival is checked here.
    assert.ok(
      Math.abs(rating.seq - finished.seq) === 1,
      "rating.changed comes next to session.finished",
    );
    assert.equal(Math.sign(rating.data.delta), player === x ? 1 : -1);
    assertInOrder(player.events);
  }
  const winner = await x.client.accounts.me();
  assert.equal(winner.games_won, 1);
  assert.ok(winner.rating > 1000);
  const done = await a.sessions.join({ session_id: sessionId });
  assert.equal(done.status, "finished");
  assert.equal(done.winner, x.client.userId);
}

/** Every event a client handled came once, in seq order, with no seq skipped. */
function assertInOrder(events: Recorder): void {
  const seqs = events.seen.map((event) => event.seq);
  assert.deepEqual(
    seqs,
    seqs.map((_, i) => i + 1),
    `seqs 1..n in order: ${seqs.join(",")}`,
  );
}
