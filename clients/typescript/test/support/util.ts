// What every test file shares: unique users, a WebSocket the test can reach into, and bounded
// waits for events and states (never a sleep standing in for a condition).

import { WebSocket } from "ws";
import { Client, Warren, type WarrenOptions } from "../../src/index.js";
import type { AnyEvent } from "../../src/index.js";

let counter = 0;
const run = Math.random().toString(36).slice(2, 8);

/** A username no other test (or run against the same server) uses. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}_${run}_${counter}`.slice(0, 32);
}

export const PASSWORD = "correct horse battery";

/**
 * ws's WebSocket, recording every socket the client opens so that a test can drop one from
 * outside (`terminate()`), make the server unreachable for a while, or swallow what is sent.
 */
export function recordingSocket() {
  return class RecordingSocket extends WebSocket {
    static readonly instances: RecordingSocket[] = [];
    /** While set, new sockets go to a port where nothing listens. */
    static unreachable = false;
    /** While set, frames the client sends are dropped: its calls are never answered. */
    swallow = false;

    constructor(url: string) {
      super(RecordingSocket.unreachable ? "ws://127.0.0.1:9/ws" : url);
      RecordingSocket.instances.push(this);
    }

    static last(): RecordingSocket {
      const socket = RecordingSocket.instances.at(-1);
      if (!socket) throw new Error("no socket opened yet");
      return socket;
    }

    override send(data: any, ...rest: any[]): void {
      if (this.swallow) return;
      (super.send as (...args: any[]) => void)(data, ...rest);
    }
  };
}

/** Every client the tests made, so that a failed test cannot leave one reconnecting forever. */
const clients = new Set<Client>();

class TrackedWarren extends Warren {
  override async login(username: string, password: string): Promise<Client> {
    const client = await super.login(username, password);
    clients.add(client);
    return client;
  }

  override async connect(...args: Parameters<Warren["connect"]>): Promise<Client> {
    const client = await super.connect(...args);
    clients.add(client);
    return client;
  }
}

/** Closes every client still open; for each file's `after`. */
export async function closeAll(): Promise<void> {
  await Promise.all([...clients].map((client) => client.close()));
  clients.clear();
}

export function warren(url: string, options: Partial<WarrenOptions> = {}): Warren {
  return new TrackedWarren({
    url,
    WebSocket,
    callTimeoutMs: 10_000,
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    ...options,
  });
}

/** Registers a new user and logs in; the client records every event it gets from the start. */
export async function newPlayer(
  w: Warren,
  prefix = "p",
): Promise<{ client: Client; events: Recorder; username: string; userId: string }> {
  const username = uniqueName(prefix);
  const { user_id } = await w.register(username, PASSWORD);
  const client = await w.login(username, PASSWORD);
  return { client, events: new Recorder(client), username, userId: user_id };
}

export interface Seen {
  type: string;
  data: any;
  seq: number;
}

/** Every server event a client handled, in order, with bounded waits on them. */
export class Recorder {
  readonly seen: Seen[] = [];
  private waiters: Array<() => void> = [];

  constructor(client: Client) {
    client.onAny((...[type, data, meta]: AnyEvent) => {
      this.seen.push({ type, data, seq: meta.seq });
      for (const wake of [...this.waiters]) wake();
    });
  }

  of(type: string): Seen[] {
    return this.seen.filter((event) => event.type === type);
  }

  /** The first event of `type` (seen already or to come) that `match` accepts. */
  waitFor(
    type: string,
    match: (data: any) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<Seen> {
    return this.until(
      () => this.seen.find((event) => event.type === type && match(event.data)),
      `an event ${type}`,
      timeoutMs,
    );
  }

  /** Resolves once `count` events of `type` have been seen. */
  waitForCount(type: string, count: number, timeoutMs = 10_000): Promise<Seen[]> {
    return this.until(
      () => (this.of(type).length >= count ? this.of(type) : undefined),
      `${count} events ${type}`,
      timeoutMs,
    );
  }

  private until<T>(found: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const value = found();
        if (value === undefined) return false;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== wake);
        resolve(value);
        return true;
      };
      const wake = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== wake);
        const seen = this.seen.map((event) => `${event.seq}:${event.type}`).join(", ");
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; seen: ${seen}`));
      }, timeoutMs);
      if (!check()) this.waiters.push(wake);
    });
  }
}

/** The next emission of a client-side event ("state", "resync", "tokens", "closed"). */
export function nextLocal<K extends "state" | "resync" | "tokens" | "closed">(
  client: Client,
  type: K,
  match: (...args: any[]) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${type}"`));
    }, timeoutMs);
    const off = client.on(type, ((...args: any[]) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      off();
      resolve(args);
    }) as any);
  });
}

/** Polls a condition the test cannot subscribe to (a clock, a count), failing after `timeoutMs`. */
export async function waitUntil(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Asserts that a promise rejects with a WarrenError of `code`, returning it. */
export async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}
