// Two players in two browser contexts: register through the page, quick match, play tic-tac-toe
// to a win on the board, and see the same board, the result and the rating change on both pages.

import assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { Player, REPO_DIR, type Server, launch, matchedPair, startServer, username } from "./harness.js";

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

test("two players quick-match, play tic-tac-toe to a win, and both see the result and rating change", async () => {
  const alice = await Player.open(browser, server, "alice");
  const bob = await Player.open(browser, server, "bob");
  try {
    await alice.register(username("alice"));
    await bob.register(username("bob"));
    for (const player of [alice, bob]) {
      await player.waitForText("account-rating", "1000");
      await player.waitForText("account-games", "0 played, 0 won");
    }

    // Alice searches alone first: the timer counts while she waits.
    await alice.quickMatch("tic-tac-toe", "eu-west");
    await alice.css('[data-testid="match-timer"]:not([data-seconds="0"])').waitFor();
    assert.match((await alice.get("match-searching").textContent()) ?? "", /tic-tac-toe in eu-west/);

    await bob.quickMatch("tic-tac-toe", "eu-west");
    await Promise.all([alice.inGame(), bob.inGame()]);
    await alice.css('[data-testid="game-status"]:is([data-turn="me"], [data-turn="other"])').waitFor();
    const { x, o } = (await alice.myTurn()) ? { x: alice, o: bob } : { x: bob, o: alice };
    await o.waitForText("game-status", `Waiting for ${await x.get("account-name").textContent()}`);
    await x.screenshot("match-found-x.png");
    await o.screenshot("match-found-o.png");

    // A move out of turn is refused, and the refusal is shown with its code.
    await o.get("cell-8").click();
    await o.css('[data-testid="message"][data-kind="error"][data-code="not_your_turn"]').waitFor();
    await o.waitForText("move-error", "not_your_turn");

    // X takes the top row; O answers in the middle row.
    const moves: [Player, number][] = [
      [x, 0],
      [o, 3],
      [x, 1],
      [o, 4],
      [x, 2],
    ];
    for (const [player, cell] of moves) {
      await player.move(cell);
      const other = player === x ? o : x;
      await other.waitForMark(cell, player === x ? "X" : "O");
    }

    const expected = ["X", "X", "X", "O", "O", "", "", "", ""];
    for (const player of [x, o]) {
      await player.css('[data-testid="game-view"][data-status="finished"]').waitFor();
      assert.deepEqual(await player.board(), expected, `${player.name}'s board`);
    }
    await x.waitForText("game-result", "You won");
    await o.waitForText("game-result", "You lost");

    // The rating change, with its delta, from rating.changed; then the account re-read.
    await x.css('[data-testid="rating-change"][data-delta]').waitFor();
    await o.css('[data-testid="rating-change"][data-delta]').waitFor();
    const winnerDelta = Number(await x.get("rating-change").getAttribute("data-delta"));
    const loserDelta = Number(await o.get("rating-change").getAttribute("data-delta"));
    assert.ok(winnerDelta > 0, `the winner gains (${winnerDelta})`);
    assert.ok(loserDelta < 0, `the loser loses (${loserDelta})`);
    assert.equal(await x.get("rating-delta").textContent(), "(+16)");
    assert.equal(await o.get("rating-delta").textContent(), "(−16)");
    await x.waitForText("rating-change", "Rating 1016");
    await o.waitForText("rating-change", "Rating 984");
    await x.waitForText("account-rating", "1016");
    await o.waitForText("account-rating", "984");
    await x.waitForText("account-games", "1 played, 1 won");
    await o.waitForText("account-games", "1 played, 0 won");

    const winnerShot = await x.screenshot("game-won.png");
    await o.screenshot("game-lost.png");
    // The README's picture is refreshed on request only, so that a test run leaves the
    // checkout as it found it: WARREN_README_SCREENSHOT=1 npm run test:browser.
    if (process.env.WARREN_README_SCREENSHOT) {
      mkdirSync(join(REPO_DIR, "docs", "img"), { recursive: true });
      copyFileSync(winnerShot, join(REPO_DIR, "docs", "img", "lobby-game.png"));
    }

    // Back to the lobby, ready for another game.
    await x.get("game-close").click();
    await x.css('body[data-view="lobby"]').waitFor();
    await x.get("match-start").waitFor();

    assert.deepEqual(alice.problems, [], "alice's console");
    assert.deepEqual(bob.problems, [], "bob's console");
  } finally {
    await alice.close();
    await bob.close();
  }
});
