// The lobby's other ways into a game: a public room (list, join, ready), a private room (its
// code, an invitation by user id, Join from the notice) with a relay game and its chat, and a
// search that is cancelled.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { Player, type Server, launch, startServer, username } from "./harness.js";

let server: Server;
let browser: Browser;
let erin: Player;
let frank: Player;

before(async () => {
  server = await startServer();
  browser = await launch();
  erin = await Player.open(browser, server, "erin");
  frank = await Player.open(browser, server, "frank");
  await erin.register(username("erin"));
  await frank.register(username("frank"));
});

after(async () => {
  await erin?.close();
  await frank?.close();
  await browser?.close();
  await server?.stop();
});

test("a search can be cancelled, and its timer goes away", async () => {
  await erin.quickMatch("relay", "us-2");
  await erin.get("match-cancel").click();
  await erin
    .css('[data-testid="message"][data-kind="note"]')
    .filter({ hasText: "Search cancelled" })
    .waitFor();
  await erin.get("match-start").waitFor();
  assert.equal(await erin.get("match-searching").isVisible(), false);
});

test("a public room: listed, joined, both ready, the game starts; a leave forfeits it", async () => {
  const name = `Room ${Math.random().toString(36).slice(2, 7)}`;
  await erin.get("create-mode").selectOption("tic-tac-toe");
  await erin.get("create-name").fill(name);
  await erin.get("create-room").click();
  await erin.waitForText("room-name", name);
  await erin.css('[data-testid="room-player"][data-ready="false"]').waitFor();
  await erin.page.reload();
  await erin.connected();
  await erin.waitForText("room-name", name);

  await frank.get("rooms-mode").selectOption("tic-tac-toe");
  await frank.get("rooms-refresh").click();
  const item = frank.get("room-item").filter({ hasText: name });
  await item.getByTestId("room-join").click();
  await frank.waitForText("room-name", name);
  // Erin sees Frank arrive through room.updated.
  await erin.css('[data-testid="room-players"] [data-testid="room-player"]:nth-child(2)').waitFor();
  await erin.screenshot("lobby-room.png");

  await erin.get("room-ready").click();
  await frank.css('[data-testid="room-player"][data-ready="true"]').waitFor();
  await frank.get("room-ready").click();
  await Promise.all([erin.inGame(), frank.inGame()]);

  await erin.get("game-leave").click();
  await erin.css('body[data-view="lobby"]').waitFor();
  await frank.waitForText("game-result", "You won");
  await frank.css('[data-testid="rating-change"][data-delta]').waitFor();
  await frank.get("game-close").click();
  await frank.css('body[data-view="lobby"]').waitFor();
});

test("a private relay room: invite by user id, join from the notice, chat in the game", async () => {
  const wrong = "ZZZZZ-ZZZZZ";
  await frank.get("join-code").fill(wrong);
  await frank.get("private-join").click();
  await frank.css('[data-testid="message"][data-kind="error"][data-code="not_found"]').waitFor();

  await erin.get("private-mode").selectOption("relay");
  await erin.get("private-size").fill("2");
  await erin.get("private-create").click();
  const code = (await erin.get("private-code").textContent()) ?? "";
  assert.match(code, /^[A-HJ-NP-TV-Z2-9]{5}-[A-HJ-NP-TV-Z2-9]{5}$/);

  // A reload finds the room again (a seat is kept while the player is away).
  await erin.page.reload();
  await erin.connected();
  await erin.waitForText("private-code", code);

  const frankId = (await frank.get("account-user-id").textContent()) ?? "";
  await erin.get("invite-user-id").fill(frankId);
  await erin.get("invite-send").click();
  await erin
    .css('[data-testid="message"][data-kind="note"]')
    .filter({ hasText: "Invitation sent" })
    .waitFor();
  await erin.screenshot("lobby-private.png");

  const invitation = frank.get("invitation");
  await invitation.waitFor();
  await frank.screenshot("lobby-invited.png");
  await invitation.getByTestId("invitation-join").click();
  await Promise.all([
    erin.css('body[data-view="game"]').waitFor(),
    frank.css('body[data-view="game"]').waitFor(),
  ]);
  await erin.get("chat").waitFor();
  await frank.get("chat").waitFor();

  await erin.get("chat-input").fill("hello from erin");
  await erin.get("chat-send").click();
  await frank.waitForText("chat-log", "hello from erin");
  await frank.get("chat-input").fill("hi erin!");
  await frank.get("chat-send").click();
  await erin.waitForText("chat-log", "hi erin!");
  assert.equal(await erin.get("chat-line").count(), 2);
  await erin.waitForText("relay-command", "hi erin!");
  await erin.screenshot("relay-chat.png");

  await frank.get("game-leave").click();
  await frank.css('body[data-view="lobby"]').waitFor();
  await erin.get("game-leave").click();
  await erin.css('body[data-view="lobby"]').waitFor();

  assert.deepEqual(erin.problems, [], "erin's console");
  assert.deepEqual(frank.problems, [], "frank's console");
});
