// The entry point: where the gateway is and how to reach it (WebSocket and fetch are given, so
// the library runs unchanged in a browser and in Node), and the calls that make a Client.
import { Client } from "./client.js";
import { Http } from "./http.js";
import { normalizeTokens, withExpiry } from "./tokens.js";
export class Warren {
    options;
    http;
    constructor(options) {
        this.options = options;
        this.http = new Http(options.url, options.fetch);
    }
    /** `POST /v1/auth/register`. */
    register(username, password) {
        return this.http.register(username, password);
    }
    /** Logs in over HTTP, then opens the socket; resolves once it is open. */
    async login(username, password) {
        const WebSocket = this.webSocket();
        const reply = await this.http.login(username, password);
        // Just issued: no refresh before the first socket, however short the tokens' life.
        return this.open(WebSocket, withExpiry(reply), undefined, false);
    }
    /**
     * A client from saved tokens (refreshed first when expired or about to), resuming after
     * `lastSeq` when given: the events missed since are delivered before any new one.
     */
    async connect(tokens, options = {}) {
        const WebSocket = this.webSocket();
        const { lastSeq } = options;
        if (lastSeq !== undefined && !(Number.isSafeInteger(lastSeq) && lastSeq >= 0)) {
            throw new TypeError("lastSeq must be a whole number, 0 or more");
        }
        return this.open(WebSocket, normalizeTokens(tokens), lastSeq, true);
    }
    async open(WebSocket, tokens, lastSeq, checkExpiry) {
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
    webSocket() {
        const WebSocket = this.options.WebSocket ?? globalThis.WebSocket;
        if (typeof WebSocket !== "function") {
            throw new TypeError('no WebSocket: pass options.WebSocket (in Node 20: import { WebSocket } from "ws")');
        }
        return WebSocket;
    }
}
/** `<base>/ws?token=…` as ws:// or wss://; a relative base ("" in a page) is the page's. */
export function socketUrl(base, accessToken) {
    const page = globalThis.location?.href;
    let url;
    try {
        url = new URL(`${base.replace(/\/+$/, "")}/ws`, page);
    }
    catch {
        throw new TypeError(`not a usable gateway URL: "${base}" (give an absolute http(s) URL)`);
    }
    if (url.protocol === "http:")
        url.protocol = "ws:";
    else if (url.protocol === "https:")
        url.protocol = "wss:";
    url.searchParams.set("token", accessToken);
    return url.toString();
}
