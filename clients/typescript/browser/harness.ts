// What every browser test needs: the real embedded server (the `warren` binary, which serves the
// lobby from gateway/web/), Chromium through playwright-core, and a player: one browser context
// (its own sessionStorage, so its own login) with one page of the lobby.

import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, type Locator, type Page, chromium } from "playwright-core";
import type { Server } from "../test/support/server.js";

/** clients/typescript (this file runs from build/browser/). */
export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const REPO_DIR = resolve(PACKAGE_DIR, "..", "..");
export const SCREENSHOTS = join(PACKAGE_DIR, "build", "screenshots");

/** How long any one condition may take before the test fails. */
export const WAIT_MS = 15_000;

export { type Server, startServer } from "../test/support/server.js";

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
}

/** A player: a browser context of its own with the lobby open, its console watched. */
export class Player {
  /** Console errors and uncaught page errors: a test ends by checking there are none. */
  readonly problems: string[] = [];

  private constructor(
    readonly name: string,
    readonly context: BrowserContext,
    readonly page: Page,
  ) {
    page.on("console", (message) => {
      if (message.type() === "error") this.problems.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => this.problems.push(`pageerror: ${error.message}`));
  }

  /** `trustAny`: accept the server's certificate whoever signed it (a test's own, for https). */
  static async open(browser: Browser, server: Server, name: string, trustAny = false): Promise<Player> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      ignoreHTTPSErrors: trustAny,
    });
    context.setDefaultTimeout(WAIT_MS);
    const page = await context.newPage();
    const player = new Player(name, context, page);
    await page.goto(server.url);
    await player.get("auth-form").waitFor();
    return player;
  }

  get(testid: string): Locator {
    return this.page.getByTestId(testid);
  }

  /** An element by CSS (for attribute conditions: `[data-testid="x"][data-state="y"]`). */
  css(selector: string): Locator {
    return this.page.locator(selector);
  }

  /** Waits until the element with this test id shows the text (a substring or a pattern). */
  async waitForText(testid: string, text: string | RegExp): Promise<void> {
    await this.get(testid).filter({ hasText: text }).first().waitFor({ state: "visible" });
  }

  /** Registers through the page's form (which then logs in) and waits for the lobby. */
  async register(username: string, password = "correct horse battery"): Promise<void> {
    await this.get("username").fill(username);
    await this.get("password").fill(password);
    await this.get("register").click();
    await this.get("lobby-view").waitFor();
    await this.connected();
    await this.waitForText("account-name", username);
  }

  async connected(): Promise<void> {
    await this.css('[data-testid="connection-state"][data-state="connected"]').waitFor();
  }

  /**
   * Starts a quick match (mode and region in the form) and waits for the search timer, or for the
   * game when someone was already waiting (the match can be made before the timer is painted).
   */
  async quickMatch(mode = "tic-tac-toe", region = "eu-west"): Promise<void> {
    await this.get("match-mode").selectOption(mode);
    await this.get("match-region").fill(region);
    await this.get("match-start").click();
    await this.get("match-timer").or(this.css('body[data-view="game"]')).first().waitFor();
  }

  /** Waits for the game view with the game's state read. */
  async inGame(): Promise<void> {
    await this.css('body[data-view="game"]').waitFor();
    await this.waitForText("game-status", /Your turn|Waiting for|Game over/);
  }

  async myTurn(): Promise<boolean> {
    return (await this.get("game-status").textContent())?.trim() === "Your turn";
  }

  /** Clicks a cell on the player's turn and waits until the board shows the mark there. */
  async move(cell: number): Promise<void> {
    await this.waitForText("game-status", "Your turn");
    await this.get(`cell-${cell}`).click();
    await this.css(`[data-testid="cell-${cell}"]:is([data-mark="X"], [data-mark="O"])`).waitFor();
  }

  async waitForMark(cell: number, mark: "X" | "O"): Promise<void> {
    await this.css(`[data-testid="cell-${cell}"][data-mark="${mark}"]`).waitFor();
  }

  /** The board as the page shows it: nine "", "X" or "O". */
  async board(): Promise<string[]> {
    return this.page.$$eval('[data-testid^="cell-"]', (cells) =>
      cells.map((cell) => (cell as HTMLElement).dataset["mark"] ?? ""),
    );
  }

  /** The event log's seqs, newest first, and the highest seq the page reports. */
  async eventLog(): Promise<{ seqs: number[]; lastSeq: number }> {
    const seqs = await this.page.$$eval('[data-testid="event-log"] [data-testid="event"]', (items) =>
      items.map((item) => Number((item as HTMLElement).dataset["seq"])),
    );
    const lastSeq = Number(await this.get("event-log").getAttribute("data-last-seq"));
    return { seqs, lastSeq };
  }

  async screenshot(file: string): Promise<string> {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const path = join(SCREENSHOTS, file);
    await this.page.screenshot({ path });
    return path;
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}

/** A username no earlier run has taken (the server is new each run, but be safe). */
export function username(prefix: string): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
}

/** Two players matched into one tic-tac-toe game; `x` is the one who moves first. */
/** Two players matched into one tic-tac-toe game; `x` is the one who moves first. */
export async function matchedPair(
  a: Player,
  b: Player,
  region = "eu-west",
): Promise<{ x: Player; o: Player }> {
  await a.quickMatch("tic-tac-toe", region);
  await b.quickMatch("tic-tac-toe", region);
  await Promise.all([a.inGame(), b.inGame()]);
  await a.css('[data-testid="game-status"]:is([data-turn="me"], [data-turn="other"])').waitFor();
  return (await a.myTurn()) ? { x: a, o: b } : { x: b, o: a };
}
