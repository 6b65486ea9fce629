// The matchmaker: a search started, read and cancelled; two players matched into a session, and
// a player who leaves that session forfeiting it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { serverForThisFile } from "./support/server.js";
import { newPlayer, rejection, warren } from "./support/util.js";

const server = serverForThisFile();

let regions = 0;
/** A region of its own for each test, so that no other test's players are matched with these. */
function region(): string {
  regions += 1;
  return `t${process.pid}-${regions}`;
}

test("matchmaker: start, status, cancel", { timeout: 30_000 }, async () => {
  const w = warren(server.url);
  const p = await newPlayer(w, "ms");
  try {
    assert.equal(await p.client.matchmaker.status(), null);
    const where = region();
    const started = await p.client.matchmaker.start({ mode: "tic-tac-toe", region: where });
    assert.match(started.ticket_id, /.+/);
    assert.ok(started.expires_at > Date.now());

    const ticket = await p.client.matchmaker.status();
    assert.ok(ticket);
    assert.equal(ticket.ticket_id, started.ticket_id);
    assert.equal(ticket.region, where);
    assert.equal(ticket.players_per_match, 2);
    assert.equal(ticket.state, "searching");

    const again = await rejection(
      p.client.matchmaker.start({ mode: "tic-tac-toe", region: where }),
    );
    assert.equal(again.code, "already_searching");

    assert.deepEqual(await p.client.matchmaker.cancel(), {});
    const cancelled = await p.events.waitFor("matchmaker.cancelled");
    assert.equal(cancelled.data.ticket_id, started.ticket_id);
    assert.equal(cancelled.data.reason, "cancelled");
    assert.equal(await p.client.matchmaker.status(), null);
    const none = await rejection(p.client.matchmaker.cancel());
    assert.equal(none.code, "not_found");
  } finally {
    await p.client.close();
  }
});

test(
  "two players are matched, and leaving the session forfeits it",
  { timeout: 60_000 },
  async () => {
    const w = warren(server.url);
    const a = await newPlayer(w, "ma");
    const b = await newPlayer(w, "mb");
    try {
      const where = region();
      await a.client.matchmaker.start({ mode: "tic-tac-toe", region: where, players_per_match: 2 });
      await b.client.matchmaker.start({ mode: "tic-tac-toe", region: where });
      const [foundA, foundB] = await Promise.all([
        a.events.waitFor("match.found"),
        b.events.waitFor("match.found"),
      ]);
      assert.equal(foundA.data.session_id, foundB.data.session_id);
      assert.equal(foundA.data.region, where);
      assert.deepEqual([...foundA.data.players].sort(), [a.userId, b.userId].sort());
      const sessionId: string = foundA.data.session_id;
      for (const player of [a, b]) {
        const started = await player.events.waitFor(
          "session.started",
          (d) => d.session_id === sessionId,
        );
        // The session is made first, then the match naming it is announced.
        assert.equal(player.events.of("match.found").length, 1);
        assert.ok(
          started.seq < player.events.of("match.found")[0]!.seq,
          "session.started, then match.found",
        );
        assert.equal(started.data.game, "tic-tac-toe");
      }

      const session = await a.client.sessions.join({ session_id: sessionId });
      assert.equal(session.status, "running");
      assert.deepEqual(await a.client.sessions.leave({ session_id: sessionId }), {});
      const left = await b.events.waitFor("session.player_left", (d) => d.session_id === sessionId);
      assert.equal(left.data.user_id, a.userId);
      const finished = await b.events.waitFor(
        "session.finished",
        (d) => d.session_id === sessionId,
      );
      assert.equal(finished.data.winner, b.userId);
      await b.events.waitFor("rating.changed", (d) => d.session_id === sessionId && d.delta > 0);
      const out = await rejection(
        a.client.sessions.command({ session_id: sessionId, command: { cell: 0 } }),
      );
      assert.ok(["forbidden", "game_over"].includes(out.code), out.code);
    } finally {
      await Promise.all([a.client.close(), b.client.close()]);
    }
  },
);
