// The page itself: served at `/` with its CSP, loads without a console error, keeps a reloaded
// tab logged in; and absent with `--web off`.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { Player, type Server, launch, startServer, username } from "./harness.js";

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

test("the page is served at / with a strict CSP and loads without console errors", async () => {
  const response = await fetch(`${server.url}/`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
  assert.match(response.headers.get("content-security-policy") ?? "", /script-src 'self'/);
  const html = await response.text();
  for (const [, path] of html.matchAll(/(?:src|href)="(\/web\/[^"]+)"/g)) {
    const file = await fetch(`${server.url}${path}`);
    assert.equal(file.status, 200, `${path} is served`);
  }

  const player = await Player.open(browser, server, "visitor");
  try {
    await player.get("register").waitFor();
    await player.get("login").waitFor();
    assert.equal(await player.get("connection-state").textContent(), "not logged in");
    assert.deepEqual(player.problems, []);
  } finally {
    await player.close();
  }
});

test("a wrong password is shown with its code; a reload keeps the login; log out ends it", async () => {
  const player = await Player.open(browser, server, "reloader");
  try {
    const name = username("reload");
    await player.register(name);
    const userId = (await player.get("account-user-id").textContent()) ?? "";
    assert.match(userId, /\S{8,}/);

    await player.page.reload();
    await player.connected();
    await player.waitForText("account-name", name);
    assert.equal(await player.get("account-user-id").textContent(), userId);

    await player.get("logout").click();
    await player.get("auth-form").waitFor();
    await player.css('[data-testid="connection-state"][data-state="none"]').waitFor();

    await player.get("username").fill(name);
    await player.get("password").fill("not the password");
    await player.get("login").click();
    await player.css('[data-testid="message"][data-kind="error"][data-code="unauthorized"]').waitFor();
    assert.deepEqual(
      player.problems.filter((problem) => !problem.includes("401")),
      [],
      "no console errors beside the refused login's 401",
    );
  } finally {
    await player.close();
  }
});

test("with --web off, / answers 404", async () => {
  const bare = await startServer(["--web", "off"]);
  try {
    assert.equal((await fetch(`${bare.url}/`)).status, 404);
    assert.equal((await fetch(`${bare.url}/web/index.html`)).status, 404);
    assert.equal((await fetch(`${bare.url}/healthz`)).status, 200);
  } finally {
    await bare.stop();
  }
});
