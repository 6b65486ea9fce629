// The entry point: where the gateway is and how to reach it (WebSocket and fetch are given, so
// the library runs unchanged in a browser and in Node), and the calls that make a Client.

import type { ReconnectOptions } from "./backoff.js";
import { Client } from "./client.js";
import type { Registered } from "./generated/contracts.js";
import { type FetchFunction, Http } from "./http.js";
import type { WebSocketConstructor } from "./rpc.js";
import { type TokenReply, normalizeTokens, withExpiry } from "./tokens.js";

export interface WarrenOptions {
  /** The gateway's base URL; "" (or `location.origin`) in a page served by the gateway. */
  url: string;
  /** A WebSocket constructor; default `globalThis.WebSocket` (Node 20: pass `ws`'s). */
  WebSocket?: WebSocketConstructor;
  /** Default `globalThis.fetch`. */
  fetch?: FetchFunction;
  /** Each call's time-out unless it gives its own. Default 10 s (the server's own deadline). */
  callTimeoutMs?: number;
  /** Backoff between reconnect attempts. */
  reconnect?: ReconnectOptions;
  /** How long a socket (and its `events.resume`) may take to open. Default 10 s. */
  connectTimeoutMs?: number;
}

export interface ConnectOptions {
  /** The highest event seq already handled: the events after it are replayed first. */
  lastSeq?: number;
}

export class Warren {
  private readonly http: Http;

  constructor(private readonly options: WarrenOptions) {
    this.http = new Http(options.url, options.fetch);
  }

  /** `POST /v1/auth/register`. */
  register(username: string, password: string): Promise<Registered> {
    return this.http.register(username, password);
  }

  /** Logs in over HTTP, then opens the socket; resolves once it is open. */
  async login(username: string, password: string): Promise<Client> {
    const WebSocket = this.webSocket();
    const reply = await this.http.login(username, password);
    // Just issued: no refresh before the first socket, however short the tokens' life.
    return this.open(WebSocket, withExpiry(reply), undefined, false);
  }

  /**
   * A client from saved tokens (refreshed first when expired or about to), resuming after
   * `lastSeq` when given: the events missed since are delivered before any new one.
   */
  async connect(
    tokens: TokenReply & { expires_at?: number },
    options: ConnectOptions = {},
  ): Promise<Client> {
    const WebSocket = this.webSocket();
    const { lastSeq } = options;
    if (lastSeq !== undefined && !(Number.isSafeInteger(lastSeq) && lastSeq >= 0)) {
      throw new TypeError("lastSeq must be a whole number, 0 or more");
    }
    return this.open(WebSocket, normalizeTokens(tokens), lastSeq, true);
  }

  private async open(
    WebSocket: WebSocketConstructor,
    tokens: ReturnType<typeof withExpiry>,
    lastSeq: number | undefined,
    checkExpiry: boolean,
  ): Promise<Client> {
    const { url, callTimeoutMs, connectTimeoutMs, reconnect } = this.options;
    const client = new Client({
      http: this.http,
      tokens,
      WebSocket,
      socketUrl: (token) => socketUrl(url, token),
      callTimeoutMs: callTimeoutMs ?? 10_000,
      connectTimeoutMs: connectTimeoutMs ?? 10_000,
      ...(reconnect ? { reconnect } : {}),
      ...(lastSeq !== undefined ? { lastSeq } : {}),
    });
    await client.start(checkExpiry);
    return client;
  }

  private webSocket(): WebSocketConstructor {
    const WebSocket =
      this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (typeof WebSocket !== "function") {
      throw new TypeError(
        'no WebSocket: pass options.WebSocket (in Node 20: import { WebSocket } from "ws")',
      );
    }
    return WebSocket;
  }
}

/** `<base>/ws?token=…` as ws:// or wss://; a relative base ("" in a page) is the page's. */
export function socketUrl(base: string, accessToken: string): string {
  const page = (globalThis as { location?: { href?: string } }).location?.href;
  let url: URL;
  try {
    url = new URL(`${base.replace(/\/+$/, "")}/ws`, page);
  } catch {
    throw new TypeError(`not a usable gateway URL: "${base}" (give an absolute http(s) URL)`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  url.searchParams.set("token", accessToken);
  return url.toString();
}
