// A player drops off mid-game: their browser context goes offline while the other player moves,
// comes back, and the game goes on. The page must show the move made while it was away (replayed
// by events.resume), and its event log must hold every seq once: no gap, no duplicate.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { Player, type Server, launch, matchedPair, startServer, username } from "./harness.js";

let server: Server;
let browser: Browser;

before(async () => {
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Every seq from the log's lowest to its highest, once each, and the highest is data-last-seq. */
async function assertNoGapNoDuplicate(player: Player): Promise<number[]> {
  const { seqs, lastSeq } = await player.eventLog();
  const ascending = [...seqs].reverse();
  assert.ok(ascending.length > 0, `${player.name} logged events`);
  assert.deepEqual(
    ascending,
    [...seqs].sort((a, b) => a - b),
    `${player.name}'s log is newest first`,
  );
  const first = ascending[0]!;
  assert.deepEqual(
    ascending,
    Array.from({ length: ascending.length }, (_, index) => first + index),
    `${player.name}'s seqs have no gap and no duplicate`,
  );
  assert.equal(lastSeq, ascending[ascending.length - 1], `${player.name}'s data-last-seq is the highest seq`);
  return ascending;
}

test("a player who goes offline mid-game sees the move made meanwhile and plays on, missing no event", async () => {
  const carol = await Player.open(browser, server, "carol");
  const dave = await Player.open(browser, server, "dave");
  try {
    await carol.register(username("carol"));
    await dave.register(username("dave"));
    const { x, o } = await matchedPair(carol, dave);

    await x.move(0);
    await o.waitForMark(0, "X");

    // X drops off the network; the page notices.
    await x.context.setOffline(true);
    await x.css('[data-testid="connection-state"][data-state="offline"]').waitFor();
    const seqBefore = (await x.eventLog()).lastSeq;

    // O moves while X is away; X's page cannot know yet.
    await o.move(4);
    assert.equal((await x.board())[4], "", "the offline page has not seen the move");

    // Back online: the page reconnects, resumes after its last seq, and shows the move.
    await x.context.setOffline(false);
    await x.connected();
    await x.waitForMark(4, "O");
    await x.waitForText("game-status", "Your turn");
    assert.ok((await x.eventLog()).lastSeq > seqBefore, "the missed events were replayed");

    // The game goes on to the end.
    await x.move(1);
    await o.waitForMark(1, "X");
    await o.move(5);
    await x.waitForMark(5, "O");
    await x.move(2);
    await o.waitForMark(2, "X");
    await x.waitForText("game-result", "You won");
    await o.waitForText("game-result", "You lost");
    await x.css('[data-testid="rating-change"][data-delta]').waitFor();
    await o.css('[data-testid="rating-change"][data-delta]').waitFor();
    assert.deepEqual(await x.board(), await o.board(), "both pages show the same board");
    assert.deepEqual(await x.board(), ["X", "X", "X", "", "O", "O", "", "", ""]);

    const xSeqs = await assertNoGapNoDuplicate(x);
    const oSeqs = await assertNoGapNoDuplicate(o);
    // A new player's stream starts at 1, and both logs hold the whole game.
    assert.equal(xSeqs[0], 1);
    assert.equal(oSeqs[0], 1);
    for (const [player, seqs] of [
      [x, xSeqs],
      [o, oSeqs],
    ] as const) {
      const types = await player.page.$$eval('[data-testid="event"]', (items) =>
        items.map((item) => (item as HTMLElement).dataset["type"]),
      );
      assert.equal(
        types.filter((type) => type === "session.state").length,
        5,
        `${player.name} saw all five moves`,
      );
      assert.ok(
        types.includes("session.finished") && types.includes("rating.changed"),
        `${player.name} saw the end`,
      );
      assert.equal(seqs.length, types.length);
    }

    await x.screenshot("offline-resumed-x.png");
    await o.screenshot("offline-resumed-o.png");
    assert.deepEqual(o.problems, [], "the online player's console");
    // Going offline makes Chromium log the failed requests; nothing else may appear.
    assert.deepEqual(
      x.problems.filter((problem) => !/ERR_INTERNET_DISCONNECTED|WebSocket connection/.test(problem)),
      [],
      "the offline player's console",
    );
  } finally {
    await carol.close();
    await dave.close();
  }
});

test("a reload mid-game reconnects with the saved tokens and seq, shows the game, and logs every event once", async () => {
  const gina = await Player.open(browser, server, "gina");
  const hank = await Player.open(browser, server, "hank");
  try {
    await gina.register(username("gina"));
    await hank.register(username("hank"));
    const { x, o } = await matchedPair(gina, hank);
    await x.move(0);
    await o.waitForMark(0, "X");

    await o.page.reload();
    await o.connected();
    await o.waitForMark(0, "X");
    await o.waitForText("game-status", "Your turn");
    await o.move(4);
    await x.waitForMark(4, "O");
    await x.move(8);
    await o.waitForMark(8, "X");

    // The reloaded page's log (kept in sessionStorage) and the live one agree, seq for seq.
    await o.css(`[data-testid="event-log"][data-last-seq="${(await x.eventLog()).lastSeq}"]`).waitFor();
    const xSeqs = await assertNoGapNoDuplicate(x);
    const oSeqs = await assertNoGapNoDuplicate(o);
    assert.deepEqual(oSeqs, xSeqs);

    // After the game, a reload goes back to the lobby.
    await o.move(2);
    await x.move(6);
    await o.move(3);
    await x.move(7);
    await o.waitForMark(7, "X");
    await x.waitForText("game-result", "You won");
    await o.waitForText("game-result", "You lost");
    await o.page.reload();
    await o.connected();
    await o.css('body[data-view="lobby"]').waitFor();
    assert.deepEqual(x.problems, []);
    assert.deepEqual(o.problems, []);
  } finally {
    await gina.close();
    await hank.close();
  }
});
