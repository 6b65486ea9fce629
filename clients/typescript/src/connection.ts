// The one logical connection a client keeps across many sockets: it reconnects after a drop
// (with backoff, at once after 1001 or when a browser comes back online), makes `events.resume`
// the first call on every socket, holds calls made meanwhile until that is answered, and knows
// which closes are final (4003, 4008).

import { Backoff, type ReconnectOptions } from "./backoff.js";
import { Calls } from "./calls.js";
import { WarrenError } from "./errors.js";
import type { Http } from "./http.js";
import type { Login } from "./login.js";
import { type NetworkWatch, watchNetwork } from "./network.js";
import { Opener, openError } from "./opener.js";
import type { RpcSocket, WebSocketConstructor, WireEvent } from "./rpc.js";
import { type CatchUp, EventStream, type ResumeResult } from "./stream.js";

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** Why the client closed for good. */
export interface ClosedInfo {
  code: number;
  reason: string;
  /** What ended it, when it was an error (a login that ended: `unauthorized`). */
  error?: WarrenError;
}

export interface ConnectionHooks {
  state(state: ConnectionState): void;
  event(event: WireEvent): void;
  resync(): void;
  closed(info: ClosedInfo): void;
}

export interface ConnectionOptions {
  socketUrl(accessToken: string): string;
  WebSocket: WebSocketConstructor;
  http: Http;
  login: Login;
  reconnect?: ReconnectOptions;
  connectTimeoutMs: number;
  /** Resume after this seq; undefined for a fresh start with nothing to replay. */
  lastSeq?: number;
}

/** The login ended (4003), or a newer socket of the user took this one's place (4008). */
const FINAL_CLOSES = new Set([4003, 4008]);
/** The gateway is shutting down: any other gateway will do, so there is nothing to wait for. */
const GOING_AWAY = 1001;
const RESUME = "events.resume";

export class Connection {
  state: ConnectionState = "connecting";
  private socket: RpcSocket | undefined;
  /** The current socket's `events.resume` has been answered: calls may go out. */
  private caughtUp = false;
  private readonly stream: EventStream;
  private readonly calls = new Calls();
  private readonly opener: Opener;
  private readonly login: Login;
  private readonly backoff: Backoff;
  private readonly network: NetworkWatch | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped to disown an attempt under way (a close, a newer attempt). */
  private attempt = 0;
  private attempting = false;
  /** The browser came back online during an attempt: if it fails, the next starts at once. */
  private onlineAgain = false;
  /** close() or logout() is under way: a close they cause is not a reason to reconnect. */
  private closing = false;

  constructor(
    options: ConnectionOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    this.stream = new EventStream(options.lastSeq, (event) => hooks.event(event));
    this.opener = new Opener(options);
    this.login = options.login;
    this.backoff = new Backoff(options.reconnect);
    this.network = watchNetwork(
      () => this.wentOffline(),
      () => this.cameOnline(),
    );
  }

  get lastSeq(): number {
    return this.stream.lastSeq;
  }

  /** Opens the first socket. A failure closes the connection for good and rejects. */
  async start(checkExpiry: boolean): Promise<void> {
    const attempt = ++this.attempt;
    try {
      const socket = await this.opener.open(checkExpiry);
      if (attempt !== this.attempt || this.over()) {
        void socket.drop(closedError());
        throw closedError();
      }
      this.attach(socket, true);
    } catch (error) {
      const failure = openError(error);
      void this.finish({ code: 1006, reason: failure.message, error: failure }, failure);
      throw failure;
    }
  }

  call(method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    if (this.over()) return Promise.reject(closedError(method));
    const ready = this.caughtUp ? this.socket : undefined;
    return this.calls.add(method, params, timeoutMs, ready);
  }

  /** Stops for good: no reconnect, every timer and listener gone. */
  close(info: ClosedInfo): Promise<void> {
    return this.finish(info);
  }

  /** A close is coming (logout): the socket may be closed under us, which is not a drop. */
  beginClosing(): void {
    this.closing = true;
    this.attempt++;
    this.clearRetry();
  }

  /** The login is gone: the connection cannot go on. */
  loginEnded(error: WarrenError): void {
    void this.finish({ code: 4003, reason: error.message, error }, error);
  }

  // --- a socket's life ------------------------------------------------------------------------

  private attach(socket: RpcSocket, initial: boolean): void {
    this.socket = socket;
    this.caughtUp = false;
    this.stream.restart();
    this.setState("open");
    this.resume(socket, initial);
    socket.listen({
      event: (event) => {
        if (socket === this.socket) this.stream.live(event, this.caughtUp);
      },
      closed: (code, reason) => this.socketClosed(socket, code, reason),
    });
  }

  private socketClosed(socket: RpcSocket, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    this.caughtUp = false;
    if (this.over()) return;
    if (FINAL_CLOSES.has(code)) {
      const why =
        code === 4003
          ? "the login ended (logged out, its refresh token reused, or the account deleted)"
          : "a newer connection of this user took this one's place";
      void this.finish({ code, reason: reason || why });
      return;
    }
    this.retry(code === GOING_AWAY ? 0 : this.backoff.next());
  }

  /** Gives up the current socket (it failed us, or the network went) and reconnects. */
  private lose(socket: RpcSocket, why: string, delayMs: number): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    this.caughtUp = false;
    void socket.drop(new WarrenError("connection_lost", why));
    this.retry(delayMs);
  }

  // --- resuming -------------------------------------------------------------------------------

  private resume(socket: RpcSocket, initial: boolean): void {
    const { after, mode } = this.stream.plan(initial);
    this.ask(socket, after, (error, result) => {
      if (error?.code === "resume_gap") {
        // Nothing is replayed after a gap: the position is learnt anew and the game re-reads.
        if (after === 0) this.resumed(socket, undefined, mode === "learn" ? "learn" : "resync");
        else
          this.ask(socket, 0, (again, fresh) =>
            this.resumed(socket, again ? undefined : fresh, "resync", again),
          );
      } else {
        this.resumed(socket, result, mode, error);
      }
    });
  }

  /** `events.resume` on `socket`; answered only while it is still the current one. */
  private ask(
    socket: RpcSocket,
    after: number,
    then: (error: WarrenError | undefined, result: ResumeResult | undefined) => void,
  ): void {
    const timer = setTimeout(() => {
      socket.forget(id);
      this.lose(socket, "events.resume was not answered", this.backoff.next());
    }, this.opener.timeoutMs);
    const id = socket.request(RESUME, { after_seq: after }, (error, result) => {
      clearTimeout(timer);
      // A socket that closed says so, with its code, through `socketClosed`.
      if (error?.code === "connection_lost") return;
      if (socket === this.socket) then(error, result as ResumeResult | undefined);
    });
  }

  private resumed(
    socket: RpcSocket,
    result: ResumeResult | undefined,
    mode: CatchUp,
    error?: WarrenError,
  ): void {
    if (error && error.code !== "resume_gap") {
      this.lose(socket, `events.resume failed: ${error.message}`, this.backoff.next());
      return;
    }
    const current = (): boolean => socket === this.socket;
    if (!this.stream.apply(result, mode, current)) return;
    this.caughtUp = true;
    this.backoff.reset();
    // Calls made while away go out first, in the order they were made.
    this.calls.flush(socket);
    this.stream.release(mode, current);
    if (mode === "resync" && current()) this.hooks.resync();
  }

  // --- reconnecting ---------------------------------------------------------------------------

  private retry(delayMs: number): void {
    if (this.over()) return;
    this.setState("reconnecting");
    this.clearRetry();
    if (this.attempting) return;
    // Offline, every attempt would fail: the `online` event starts the next one.
    if (this.network?.offline()) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.reconnect();
    }, delayMs);
  }

  private async reconnect(): Promise<void> {
    if (this.over() || this.attempting) return;
    const attempt = ++this.attempt;
    this.attempting = true;
    this.onlineAgain = false;
    try {
      const socket = await this.opener.open(true);
      this.attempting = false;
      if (attempt !== this.attempt || this.over()) {
        void socket.drop(closedError());
        return;
      }
      this.attach(socket, false);
    } catch (error) {
      this.attempting = false;
      if (attempt !== this.attempt || this.over()) return;
      if (this.login.ended) {
        this.loginEnded(this.login.ended);
        return;
      }
      const hint = error instanceof WarrenError ? (error.retryAfterMs ?? 0) : 0;
      this.retry(this.onlineAgain ? 0 : Math.max(this.backoff.next(), hint));
    }
  }

  private wentOffline(): void {
    // The first connect reports its own failure; a closed client has nothing to drop.
    if (this.state === "connecting" || this.over()) return;
    if (this.socket) this.lose(this.socket, "the network went offline", 0);
    else this.retry(0);
  }

  private cameOnline(): void {
    if (this.state !== "reconnecting" || this.over()) return;
    if (this.attempting) {
      this.onlineAgain = true;
      return;
    }
    this.clearRetry();
    void this.reconnect();
  }

  private clearRetry(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  // --- the end --------------------------------------------------------------------------------

  private finish(info: ClosedInfo, error?: WarrenError): Promise<void> {
    if (this.state === "closed") return Promise.resolve();
    this.closing = true;
    this.attempt++;
    this.clearRetry();
    this.network?.stop();
    const socket = this.socket;
    this.socket = undefined;
    this.caughtUp = false;
    const dropped = socket
      ? socket.drop(new WarrenError("connection_lost", "the client closed the connection"))
      : Promise.resolve();
    this.calls.failQueued((method) =>
      error
        ? new WarrenError(error.code, error.message, {
            method,
            ...(error.status ? { status: error.status } : {}),
          })
        : closedError(method),
    );
    this.setState("closed");
    this.hooks.closed(info);
    return dropped;
  }

  /** Closed, or closing: nothing new is to start. */
  private over(): boolean {
    return this.state === "closed" || this.closing;
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    this.hooks.state(state);
  }
}

function closedError(method?: string): WarrenError {
  return new WarrenError("closed", "the client is closed", method === undefined ? {} : { method });
}
