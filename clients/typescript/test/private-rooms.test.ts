// Private rooms: invitations, joining by code, leaving, closing, and a full room starting its game.

import assert from "node:assert/strict";
import { test } from "node:test";
import { serverForThisFile } from "./support/server.js";
import { newPlayer, rejection, warren } from "./support/util.js";

const server = serverForThisFile();

test("private rooms: create, invite, join by code, leave, close", { timeout: 60_000 }, async () => {
  const w = warren(server.url);
  const owner = await newPlayer(w, "po");
  const guest = await newPlayer(w, "pg");
  try {
    const room = await owner.client.privateRooms.create({ mode: "relay", max_players: 3 });
    assert.equal(room.owner, owner.userId);
    assert.match(room.code, /^[A-Z0-9]{5}-[A-Z0-9]{5}$/);
    assert.ok(room.expires_at > Date.now());

    assert.deepEqual(
      await owner.client.privateRooms.invite({ room_id: room.room_id, user_id: guest.userId }),
      {},
    );
    const invited = await guest.events.waitFor(
      "private_room.invited",
      (d) => d.room_id === room.room_id,
    );
    assert.equal(invited.data.code, room.code);
    assert.equal(invited.data.from, owner.userId);
    assert.equal(invited.data.mode, "relay");
    assert.equal(invited.data.max_players, 3);

    const notOwner = await rejection(guest.client.privateRooms.close({ room_id: room.room_id }));
    assert.equal(notOwner.code, "forbidden");
    const wrongCode = await rejection(guest.client.privateRooms.join({ code: "AAAAA-AAAAA" }));
    assert.equal(wrongCode.code, "not_found");

    // Any case, dashes and spaces ignored.
    const joined = await guest.client.privateRooms.join({
      code: invited.data.code.toLowerCase().replace("-", " "),
    });
    assert.equal(joined.room_id, room.room_id);
    assert.equal(joined.players.length, 2);
    await owner.events.waitFor(
      "room.updated",
      (r) => r.room_id === room.room_id && r.players.length === 2,
    );

    assert.deepEqual(await guest.client.privateRooms.leave({ room_id: room.room_id }), {});
    await owner.events.waitFor(
      "room.updated",
      (r) => r.room_id === room.room_id && r.players.length === 1 && r.version > joined.version,
    );

    assert.deepEqual(await owner.client.privateRooms.close({ room_id: room.room_id }), {});
    const closed = await owner.events.waitFor("room.closed", (d) => d.room_id === room.room_id);
    assert.equal(closed.data.reason, "closed");
    const gone = await rejection(guest.client.privateRooms.join({ code: room.code }));
    assert.equal(gone.code, "not_found");
  } finally {
    await Promise.all([owner.client.close(), guest.client.close()]);
  }
});

test("a private room starts its game once full", { timeout: 60_000 }, async () => {
  const w = warren(server.url);
  const owner = await newPlayer(w, "qo");
  const guest = await newPlayer(w, "qg");
  try {
    const room = await owner.client.privateRooms.create({ mode: "tic-tac-toe", max_players: 2 });
    await owner.client.privateRooms.invite({ room_id: room.room_id, user_id: guest.userId });
    const invited = await guest.events.waitFor("private_room.invited");
    await guest.client.privateRooms.join({ code: invited.data.code });
    for (const player of [owner, guest]) {
      const started = await player.events.waitFor("session.started");
      assert.equal(started.data.game, "tic-tac-toe");
      const closed = await player.events.waitFor("room.closed", (d) => d.room_id === room.room_id);
      assert.equal(closed.data.reason, "started");
      assert.equal(closed.data.session_id, started.data.session_id);
      const session = await player.client.sessions.join({ session_id: started.data.session_id });
      assert.equal(session.status, "running");
    }
  } finally {
    await Promise.all([owner.client.close(), guest.client.close()]);
  }
});
