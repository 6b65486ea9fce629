// A logged-in client: the socket methods by namespace, the events, and the few HTTP calls that
// need the login's tokens. Made by `Warren.login` and `Warren.connect`, never directly.

import {
  type AnyEvent,
  type CallArgs,
  type CallOptions,
  type ClientEvents,
  type ClientMethods,
  type EventType,
  type MethodName,
  type Result,
  buildMethods,
} from "./api.js";
import { type ClosedInfo, Connection, type ConnectionState } from "./connection.js";
import { Emitter } from "./emitter.js";
import { WarrenError } from "./errors.js";
import type { Account, Events } from "./generated/contracts.js";
import type { Http } from "./http.js";
import { Login } from "./login.js";
import type { ReconnectOptions } from "./backoff.js";
import type { WebSocketConstructor } from "./rpc.js";
import { type Tokens, userIdOf } from "./tokens.js";

/** What `Warren` hands a new client. */
export interface ClientSetup {
  http: Http;
  tokens: Tokens;
  lastSeq?: number;
  WebSocket: WebSocketConstructor;
  socketUrl(accessToken: string): string;
  callTimeoutMs: number;
  connectTimeoutMs: number;
  reconnect?: ReconnectOptions;
}

export interface LogoutOptions {
  /** End every login of the user, on every device ("log out everywhere"). */
  all?: boolean;
}

const LOCAL_EVENTS = new Set<string>(["state", "resync", "tokens", "closed"]);

// The namespaces (`client.rooms`, `client.privateRooms`, …) are added at run time from the
// generated method list; this merges their types into the class.
export interface Client extends ClientMethods {}

export class Client {
  /** The user this client speaks for (the access token's `sub`). */
  readonly userId: string;
  private readonly events = new Emitter<ClientEvents>();
  private readonly anyEvents = new Emitter<{ any: AnyEvent }>();
  private readonly login: Login;
  private readonly connection: Connection;
  private readonly http: Http;
  private readonly callTimeoutMs: number;

  /** @internal Use `Warren.login` or `Warren.connect`. */
  constructor(setup: ClientSetup) {
    this.userId = userIdOf(setup.tokens.access_token);
    this.http = setup.http;
    this.callTimeoutMs = setup.callTimeoutMs;
    this.login = new Login(setup.http, setup.tokens, {
      tokens: (tokens) => this.events.emit("tokens", { ...tokens }),
      ended: (error) => this.connection.loginEnded(error),
    });
    this.connection = new Connection(
      {
        socketUrl: setup.socketUrl,
        WebSocket: setup.WebSocket,
        http: setup.http,
        login: this.login,
        connectTimeoutMs: setup.connectTimeoutMs,
        ...(setup.reconnect ? { reconnect: setup.reconnect } : {}),
        ...(setup.lastSeq !== undefined ? { lastSeq: setup.lastSeq } : {}),
      },
      {
        state: (state) => this.events.emit("state", state),
        event: ({ seq, type, data }) => {
          // Server event types are dotted ("room.updated"): none can pose as the client's own.
          if (!LOCAL_EVENTS.has(type)) {
            const args = [data, { seq, type }] as unknown as ClientEvents[keyof ClientEvents];
            this.events.emit(type as keyof ClientEvents, ...args);
          }
          this.anyEvents.emit("any", ...([type, data, { seq, type }] as unknown as AnyEvent));
        },
        resync: () => this.events.emit("resync"),
        closed: (info: ClosedInfo) => this.events.emit("closed", info),
      },
    );
    Object.assign(
      this,
      buildMethods((method, params, options) => this.invoke(method, params, options)),
    );
  }

  /** @internal Opens the first socket; `checkExpiry` refreshes stale saved tokens first. */
  start(checkExpiry: boolean): Promise<void> {
    return this.connection.start(checkExpiry);
  }

  /** The login's current tokens (they change on every refresh: see the "tokens" event). */
  get tokens(): Tokens {
    return { ...this.login.tokens };
  }

  /** The highest event seq seen: save it to resume after with `Warren.connect`. */
  get lastSeq(): number {
    return this.connection.lastSeq;
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** A socket method by name; the same as the namespaced one. */
  call<M extends MethodName>(method: M, ...args: CallArgs<M>): Promise<Result<M>> {
    const [params, options] = args as [unknown, CallOptions | undefined];
    return this.invoke(method, params, options) as Promise<Result<M>>;
  }

  /** Listens to one server event type, or to the client's own (`state`, `resync`, `tokens`, `closed`). */
  on<K extends keyof ClientEvents>(
    type: K,
    handler: (...args: ClientEvents[K]) => void,
  ): () => void {
    return this.events.on(type, handler);
  }

  /**
   * Listens to every server event, in seq order. With all three parameters, testing `type`
   * narrows `data`; a handler may also take just `(type, data)`.
   */
  onAny(handler: (...args: AnyEvent) => void): () => void;
  onAny(handler: (type: EventType, data: Events[EventType]) => void): () => void;
  onAny(handler: (...args: any[]) => void): () => void {
    return this.anyEvents.on("any", handler as (...args: AnyEvent) => void);
  }

  /** `PATCH /v1/accounts/me`. */
  updateDisplayName(displayName: string): Promise<Account> {
    return this.login.authorized((token) =>
      this.http.request<Account>("PATCH", "/v1/accounts/me", {
        token,
        body: { display_name: displayName },
      }),
    );
  }

  /** Ends the login on the server (with `all`, every login of the user) and closes for good. */
  async logout(options: LogoutOptions = {}): Promise<void> {
    this.connection.beginClosing();
    let failure: unknown;
    try {
      await this.login.logout(options.all === true);
    } catch (error) {
      failure = error;
    }
    await this.connection.close({ code: 1000, reason: "logged out" });
    if (failure !== undefined) throw failure;
  }

  /** Closes the socket and stops reconnecting; the login stays valid (its tokens can connect again). */
  close(): Promise<void> {
    return this.connection.close({ code: 1000, reason: "closed by the client" });
  }

  private invoke(method: string, params: unknown, options?: CallOptions): Promise<unknown> {
    if (typeof method !== "string" || method === "") {
      return Promise.reject(new WarrenError("invalid_params", "a method name is required"));
    }
    return this.connection.call(method, params, options?.timeoutMs ?? this.callTimeoutMs);
  }
}
