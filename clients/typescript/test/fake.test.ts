// What the real server cannot be made to do on demand, against a scripted gateway: a 1001 close,
// a browser tab going offline and online, a live event racing the resume answer, an upgrade
// refused where the status is hidden (a browser), and the backoff's bounds.

import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { Warren } from "../src/index.js";
import { Backoff } from "../src/backoff.js";
import { FakeGateway } from "./support/fake.js";
import { Recorder, nextLocal, waitUntil } from "./support/util.js";

/** Long enough that only an immediate reconnect can pass a test's bounded wait. */
const SLOW = { initialDelayMs: 600_000, maxDelayMs: 600_000 };

function client(gateway: FakeGateway, tokens = gateway.tokens(), lastSeq?: number) {
  const w = new Warren({
    url: "http://fake.invalid",
    WebSocket: gateway.WebSocket,
    fetch: gateway.fetch,
    reconnect: SLOW,
  });
  return lastSeq === undefined ? w.connect(tokens) : w.connect(tokens, { lastSeq });
}

test("1001 (the gateway going away) reconnects at once", { timeout: 10_000 }, async () => {
  const gateway = new FakeGateway();
  const c = await client(gateway);
  const events = new Recorder(c);
  try {
    gateway.push();
    await events.waitForCount("private_room.invited", 1);
    const reopened = nextLocal(c, "state", (s) => s === "open", 2_000);
    const started = Date.now();
    gateway.sockets[0]!.serverClose(1001, "the gateway is shutting down");
    gateway.push(); // while away
    await reopened;
    assert.ok(Date.now() - started < 1_000);
    await events.waitForCount("private_room.invited", 2);
    assert.deepEqual(
      events.seen.map((e) => e.seq),
      [1, 2],
    );
    assert.equal(
      gateway.sockets[1]!.sent[0]!.method,
      "events.resume",
      "the first call on a new socket",
    );
    assert.deepEqual(gateway.sockets[1]!.sent[0]!.params, { after_seq: 1 });
  } finally {
    await c.close();
  }
});

test(
  "a live event racing the resume answer is delivered once, after the replay",
  { timeout: 10_000 },
  async () => {
    const gateway = new FakeGateway();
    gateway.raceResume = true;
    for (let i = 0; i < 3; i++) gateway.push();
    const c = await client(gateway, gateway.tokens(), 1);
    const events = new Recorder(c);
    try {
      await events.waitForCount("private_room.invited", 2);
      gateway.push();
      await events.waitForCount("private_room.invited", 3);
      assert.deepEqual(
        events.seen.map((e) => e.seq),
        [2, 3, 4],
      );
    } finally {
      await c.close();
    }
  },
);

test(
  "a fresh start replays nothing from before it, and a gap asks for a resync",
  { timeout: 10_000 },
  async () => {
    const gateway = new FakeGateway();
    gateway.push();
    gateway.push();
    const c = await client(gateway);
    const events = new Recorder(c);
    try {
      await waitUntil(() => c.lastSeq === 2, "the position is learnt");
      gateway.push();
      await events.waitForCount("private_room.invited", 1);
      assert.deepEqual(
        events.seen.map((e) => e.seq),
        [3],
      );
    } finally {
      await c.close();
    }
    const resumed = await client(gateway, gateway.tokens(), 50);
    try {
      await nextLocal(resumed, "resync");
      assert.equal(resumed.lastSeq, 3, "the real position, learnt after the gap");
    } finally {
      await resumed.close();
    }
  },
);

test(
  "a refused upgrade the browser cannot see is found over HTTP and refreshed",
  { timeout: 10_000 },
  async () => {
    const gateway = new FakeGateway();
    const tokens = gateway.tokens();
    const c = await client(gateway, tokens);
    try {
      const refreshed = nextLocal(c, "tokens");
      const reopened = nextLocal(c, "state", (s) => s === "open", 2_000);
      gateway.valid.delete(tokens.access_token); // as if revoked at the gateway
      gateway.sockets[0]!.serverClose(1001);
      await refreshed;
      await reopened;
      assert.equal(gateway.refreshes, 1);
      assert.equal(gateway.sockets.length, 3, "refused, then opened with the new token");
      assert.equal((await c.accounts.me()).user_id, "user-1");
    } finally {
      await c.close();
    }
  },
);

test(
  "offline drops the socket; online reconnects at once and nothing is missed",
  { timeout: 10_000 },
  async () => {
    const page = new EventTarget();
    const navigator = { onLine: true };
    const global = globalThis as any;
    global.addEventListener = page.addEventListener.bind(page);
    global.removeEventListener = page.removeEventListener.bind(page);
    Object.defineProperty(globalThis, "navigator", {
      value: navigator,
      configurable: true,
      writable: true,
    });
    const gateway = new FakeGateway();
    try {
      const c = await client(gateway);
      const events = new Recorder(c);
      gateway.push();
      await events.waitForCount("private_room.invited", 1);

      const away = nextLocal(c, "state", (s) => s === "reconnecting");
      navigator.onLine = false;
      page.dispatchEvent(new Event("offline"));
      await away;
      assert.equal(gateway.sockets[0]!.readyState >= 2, true, "the socket was closed at once");
      const meanwhile = c.accounts.me();
      gateway.push();
      gateway.push();
      assert.equal(gateway.sockets.length, 1, "no attempt while offline");

      const back = nextLocal(c, "state", (s) => s === "open", 2_000);
      navigator.onLine = true;
      page.dispatchEvent(new Event("online"));
      await back;
      await events.waitForCount("private_room.invited", 3);
      assert.deepEqual(
        events.seen.map((e) => e.seq),
        [1, 2, 3],
      );
      assert.equal((await meanwhile).user_id, "user-1");

      await c.close();
      // Closed: the page's events are no longer listened to.
      navigator.onLine = true;
      page.dispatchEvent(new Event("online"));
      assert.equal(gateway.sockets.length, 2);
      assert.equal(c.state, "closed");
    } finally {
      delete global.addEventListener;
      delete global.removeEventListener;
      delete global.navigator;
    }
  },
);

test("backoff: full jitter under a ceiling doubling from the first delay to the cap", () => {
  const top = new Backoff({ initialDelayMs: 500, maxDelayMs: 30_000 }, () => 1);
  assert.deepEqual(
    Array.from({ length: 9 }, () => top.next()),
    [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
  top.reset();
  assert.equal(top.next(), 500);
  const bottom = new Backoff({}, () => 0);
  assert.equal(bottom.next(), 0);
  const defaults = new Backoff({}, () => 0.5);
  assert.equal(defaults.next(), 250);
});
