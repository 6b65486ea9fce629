// Starts the real embedded Warren server for one test file and stops it afterwards.

import { type ChildProcess, spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { closeAll } from "./util.js";

export interface Server {
  url: string;
  /** The admin listener (`/metrics`), `http://…`. */
  admin: string;
  stop(): Promise<void>;
}

/** The repository (this file runs from clients/typescript/build/test/support/). */
const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..", "..");

/** `WARREN_BIN`, or the binary `cargo build` made in this checkout. */
const BIN =
  process.env.WARREN_BIN ??
  resolve(REPO_DIR, process.env.CARGO_TARGET_DIR ?? "target", "debug", "warren");

/** Generous limits by default, so that many logins and sockets from one address are not throttled. */
export async function startServer(extra: string[] = []): Promise<Server> {
  const args = [
    "--listen",
    "127.0.0.1:0",
    "--admin-listen",
    "127.0.0.1:0",
    "--log-format",
    "json",
    "--auth-rate-per-address",
    "100000",
    "--connect-rate-per-address",
    "100000",
    ...extra,
  ];
  const child = spawn(BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
  const stderr: string[] = [];
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => stderr.push(chunk));
  const { url, admin } = await new Promise<{ url: string; admin: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error("warren did not say it was up within 20 s")),
      20_000,
    );
    const lines = createInterface({ input: child.stdout! });
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${error.message}\nstderr: ${stderr.join("")}`));
    };
    child.once("error", fail);
    child.once("exit", (code) => fail(new Error(`warren exited (${code}) before it was up`)));
    lines.on("line", (line) => {
      let entry: { message?: string; url?: string; admin?: string };
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.message === "warren is up" && typeof entry.url === "string") {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        child.removeAllListeners("error");
        resolve({ url: entry.url, admin: entry.admin ?? "" });
      }
    });
  });
  // Keep reading its log so that the pipe never fills and blocks the server.
  child.stdout?.resume();
  return { url, admin, stop: () => stop(child) };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * The server for the test file that calls this: started before its tests (with `extra`
 * arguments), stopped after them, once every client they made is closed. Its `url` is set by
 * the time a test runs.
 */
export function serverForThisFile(extra: string[] = []): { url: string } {
  const handle = { url: "" };
  let server: Server | undefined;
  before(async () => {
    server = await startServer(extra);
    handle.url = server.url;
  });
  after(async () => {
    await closeAll();
    await server?.stop();
  });
  return handle;
}
