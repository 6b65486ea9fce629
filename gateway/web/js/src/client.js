// A logged-in client: the socket methods by namespace, the events, and the few HTTP calls that
// need the login's tokens. Made by `Warren.login` and `Warren.connect`, never directly.
import { buildMethods, } from "./api.js";
import { Connection } from "./connection.js";
import { Emitter } from "./emitter.js";
import { WarrenError } from "./errors.js";
import { Login } from "./login.js";
import { userIdOf } from "./tokens.js";
const LOCAL_EVENTS = new Set(["state", "resync", "tokens", "closed"]);
export class Client {
    /** The user this client speaks for (the access token's `sub`). */
    userId;
    events = new Emitter();
    anyEvents = new Emitter();
    login;
    connection;
    http;
    callTimeoutMs;
    /** @internal Use `Warren.login` or `Warren.connect`. */
    constructor(setup) {
        this.userId = userIdOf(setup.tokens.access_token);
        this.http = setup.http;
        this.callTimeoutMs = setup.callTimeoutMs;
        this.login = new Login(setup.http, setup.tokens, {
            tokens: (tokens) => this.events.emit("tokens", { ...tokens }),
            ended: (error) => this.connection.loginEnded(error),
        });
        this.connection = new Connection({
            socketUrl: setup.socketUrl,
            WebSocket: setup.WebSocket,
            http: setup.http,
            login: this.login,
            connectTimeoutMs: setup.connectTimeoutMs,
            ...(setup.reconnect ? { reconnect: setup.reconnect } : {}),
            ...(setup.lastSeq !== undefined ? { lastSeq: setup.lastSeq } : {}),
        }, {
            state: (state) => this.events.emit("state", state),
            event: ({ seq, type, data }) => {
                // Server event types are dotted ("room.updated"): none can pose as the client's own.
                if (!LOCAL_EVENTS.has(type)) {
                    const args = [data, { seq, type }];
                    this.events.emit(type, ...args);
                }
                this.anyEvents.emit("any", ...[type, data, { seq, type }]);
            },
            resync: () => this.events.emit("resync"),
            closed: (info) => this.events.emit("closed", info),
        });
        Object.assign(this, buildMethods((method, params, options) => this.invoke(method, params, options)));
    }
    /** @internal Opens the first socket; `checkExpiry` refreshes stale saved tokens first. */
    start(checkExpiry) {
        return this.connection.start(checkExpiry);
    }
    /** The login's current tokens (they change on every refresh: see the "tokens" event). */
    get tokens() {
        return { ...this.login.tokens };
    }
    /** The highest event seq seen: save it to resume after with `Warren.connect`. */
    get lastSeq() {
        return this.connection.lastSeq;
    }
    get state() {
        return this.connection.state;
    }
    /** A socket method by name; the same as the namespaced one. */
    call(method, ...args) {
        const [params, options] = args;
        return this.invoke(method, params, options);
    }
    /** Listens to one server event type, or to the client's own (`state`, `resync`, `tokens`, `closed`). */
    on(type, handler) {
        return this.events.on(type, handler);
    }
    onAny(handler) {
        return this.anyEvents.on("any", handler);
    }
    /** `PATCH /v1/accounts/me`. */
    updateDisplayName(displayName) {
        return this.login.authorized((token) => this.http.request("PATCH", "/v1/accounts/me", {
            token,
            body: { display_name: displayName },
        }));
    }
    /** Ends the login on the server (with `all`, every login of the user) and closes for good. */
    async logout(options = {}) {
        this.connection.beginClosing();
        let failure;
        try {
            await this.login.logout(options.all === true);
        }
        catch (error) {
            failure = error;
        }
        await this.connection.close({ code: 1000, reason: "logged out" });
        if (failure !== undefined)
            throw failure;
    }
    /** Closes the socket and stops reconnecting; the login stays valid (its tokens can connect again). */
    close() {
        return this.connection.close({ code: 1000, reason: "closed by the client" });
    }
    invoke(method, params, options) {
        if (typeof method !== "string" || method === "") {
            return Promise.reject(new WarrenError("invalid_params", "a method name is required"));
        }
        return this.connection.call(method, params, options?.timeoutMs ?? this.callTimeoutMs);
    }
}
