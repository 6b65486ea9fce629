// A scripted stand-in for the gateway, for what the real server cannot be made to do on demand:
// a 1001 close, a browser going offline, a live event racing the resume answer, an upgrade whose
// status is hidden. It speaks just enough JSON-RPC: events.resume, accounts.me, and silence.

import type { FetchFunction } from "../../src/index.js";

interface Frame {
  id: number;
  method: string;
  params?: any;
}

export function fakeJwt(sub: string, serial: number): string {
  const encode = (value: object): string =>
    Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${encode({ alg: "HS256", typ: "JWT" })}.${encode({ sub, n: serial, exp: 4102444800 })}.sig`;
}

export class FakeGateway {
  readonly journal: Array<{ seq: number; type: string; data: unknown }> = [];
  readonly sockets: FakeSocket[] = [];
  /** Access tokens the upgrade accepts; others fail the way a browser sees it (no status). */
  readonly valid = new Set<string>();
  refreshes = 0;
  /** Sent before each resume answer: a live event the resume also replays. */
  raceResume = false;
  private serial = 0;

  constructor(readonly userId = "user-1") {}

  tokens() {
    this.serial += 1;
    const access = fakeJwt(this.userId, this.serial);
    this.valid.add(access);
    return { access_token: access, refresh_token: `refresh-${this.serial}`, expires_in: 900 };
  }

  /** A new event for the user: journaled, and sent to every open socket. */
  push(type = "private_room.invited"): void {
    const event = { seq: this.journal.length + 1, type, data: { n: this.journal.length + 1 } };
    this.journal.push(event);
    for (const socket of this.sockets) if (socket.readyState === 1) socket.event(event);
  }

  get WebSocket() {
    const gateway = this;
    return class extends FakeSocket {
      constructor(url: string) {
        super(gateway, url);
      }
    };
  }

  readonly fetch: FetchFunction = async (input, init) => {
    const path = new URL(input).pathname;
    const json = (status: number, body: unknown) =>
      new Response(body === undefined ? null : JSON.stringify(body), {
        status,
        headers: { "Content-Type": "application/json" },
      });
    if (path === "/healthz") return json(200, undefined);
    if (path === "/v1/auth/refresh") {
      this.refreshes += 1;
      return json(200, this.tokens());
    }
    if (path === "/v1/accounts/me") {
      const token = String((init?.headers as Record<string, string>)?.Authorization ?? "").replace(
        "Bearer ",
        "",
      );
      return this.valid.has(token)
        ? json(200, { user_id: this.userId })
        : json(401, { error: { code: "unauthorized", message: "the access token is not valid" } });
    }
    return json(404, { error: { code: "not_found", message: path } });
  };
}

export class FakeSocket {
  readyState = 0;
  onopen: ((event: any) => void) | null = null;
  onmessage: ((event: any) => void) | null = null;
  onerror: ((event: any) => void) | null = null;
  onclose: ((event: any) => void) | null = null;
  readonly sent: Frame[] = [];

  constructor(
    private readonly gateway: FakeGateway,
    url: string,
  ) {
    gateway.sockets.push(this);
    const token = new URL(url).searchParams.get("token") ?? "";
    setTimeout(() => {
      if (this.readyState !== 0) return;
      if (!gateway.valid.has(token)) {
        this.readyState = 3;
        this.onerror?.({ message: "" });
        this.onclose?.({ code: 1006, reason: "" });
        return;
      }
      this.readyState = 1;
      this.onopen?.({});
    }, 1);
  }

  send(data: string): void {
    if (this.readyState !== 1) return;
    const frame = JSON.parse(data) as Frame;
    this.sent.push(frame);
    setTimeout(() => this.answer(frame), 1);
  }

  close(code = 1000, reason = ""): void {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    setTimeout(() => this.serverClose(code, reason), 1);
  }

  /** The gateway closes the socket with `code`. */
  serverClose(code: number, reason = ""): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  event(event: object): void {
    this.deliver({ jsonrpc: "2.0", method: "event", params: event });
  }

  private answer(frame: Frame): void {
    if (this.readyState !== 1) return;
    if (frame.method === "events.resume") {
      const after = frame.params.after_seq as number;
      if (after > this.gateway.journal.length) {
        this.reply(frame.id, undefined, {
          code: -32000,
          message: "gap",
          data: { code: "resume_gap" },
        });
        return;
      }
      const events = this.gateway.journal.filter((event) => event.seq > after);
      if (this.gateway.raceResume && events.length > 0) this.event(events.at(-1)!);
      this.reply(frame.id, { events, last_seq: this.gateway.journal.length });
    } else if (frame.method === "accounts.me") {
      this.reply(frame.id, { user_id: this.gateway.userId });
    }
    // Anything else is never answered.
  }

  private reply(id: number, result: unknown, error?: unknown): void {
    this.deliver(
      error === undefined ? { jsonrpc: "2.0", id, result } : { jsonrpc: "2.0", id, error },
    );
  }

  private deliver(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
}
