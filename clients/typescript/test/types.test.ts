// The typed layer: every generated client method is a namespaced function, and the types say
// what each takes and gives (checked by the compiler: the @ts-expect-error lines must stay errors).

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CLIENT_METHODS,
  type Client,
  type PrivateRoom,
  type Room,
  type Ticket,
} from "../src/index.js";
import { Warren } from "../src/index.js";
import { FakeGateway } from "./support/fake.js";

test("every client method is there, by namespace, camelCased", { timeout: 10_000 }, async () => {
  const gateway = new FakeGateway();
  const w = new Warren({
    url: "http://fake.invalid",
    WebSocket: gateway.WebSocket,
    fetch: gateway.fetch,
  });
  const client = await w.connect(gateway.tokens());
  try {
    assert.equal(CLIENT_METHODS.length, 18);
    for (const method of CLIENT_METHODS) {
      const [service, name] = method.split(".") as [string, string];
      const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      const namespace = (client as unknown as Record<string, Record<string, unknown>>)[
        camel(service)
      ];
      assert.equal(typeof namespace?.[camel(name)], "function", method);
    }
    assert.equal(typeof client.privateRooms.join, "function");
    assert.equal((await client.accounts.me()).user_id, "user-1");
    // The params of a method that takes none go out as none.
    assert.equal("params" in gateway.sockets[0]!.sent.at(-1)!, false);
  } finally {
    await client.close();
  }
});

// Never run: compiled only, for the types.
export async function typeChecks(client: Client): Promise<void> {
  const room: Room = await client.rooms.create({ mode: "tic-tac-toe", max_players: 2 });
  const privateRoom: PrivateRoom = await client.privateRooms.join({ code: "K7PMR-4XQ2H" });
  const ticket: Ticket | null = await client.matchmaker.status();
  await client.matchmaker.cancel();
  await client.accounts.me();
  await client.rooms.list();
  await client.call("rooms.join", { room_id: room.room_id }, { timeoutMs: 1_000 });
  client.on("match.found", (data, meta) => {
    const id: string = data.session_id;
    const seq: number = meta.seq;
    (void id, seq);
  });
  client.on("room.updated", (data) => void data.room_id);
  client.on("closed", ({ code, reason }) => void [code, reason]);
  client.on("tokens", (tokens) => void tokens.expires_at);
  client.onAny((type, data, meta) => {
    if (type === "session.state") void [data.version, meta.seq];
  });
  client.onAny((type, data) => void [type, data]);
  // @ts-expect-error rooms.create needs its params
  await client.rooms.create();
  // @ts-expect-error no such method
  await client.rooms.destroy({ room_id: "r" });
  // @ts-expect-error service-to-service methods are not the client's
  await client.sessions.create({});
  // @ts-expect-error params of the wrong shape
  await client.privateRooms.join({ room_id: "r" });
  // @ts-expect-error no such event
  client.on("room.exploded", () => undefined);
  (void privateRoom, ticket);
}
