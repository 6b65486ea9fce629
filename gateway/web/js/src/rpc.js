// One WebSocket speaking JSON-RPC 2.0: opening it (and learning why an upgrade was refused),
// matching answers to requests by id, and handing the server's pushed events on. It knows nothing
// of reconnecting: when it closes, it is done, and its calls in flight fail.
import { WarrenError, fromRpcError } from "./errors.js";
/** An upgrade that did not open; `status` when the WebSocket implementation tells it (ws does). */
export class OpenFailure extends Error {
    status;
    constructor(message, status) {
        super(message);
        this.status = status;
        this.name = "OpenFailure";
    }
}
const noop = () => undefined;
export class RpcSocket {
    ws;
    pending = new Map();
    nextId = 1;
    done = false;
    closedSignal;
    closedPromise;
    handlers;
    // What came between the socket opening and its owner listening: a frame can arrive in the
    // same read as the upgrade's answer, before the code that opened the socket has run again.
    early = [];
    constructor(ws) {
        this.ws = ws;
        this.closedPromise = new Promise((resolve) => (this.closedSignal = resolve));
        ws.onmessage = (event) => this.receive(event.data);
        ws.onerror = noop;
        ws.onclose = (event) => {
            this.closedSignal?.();
            if (this.done)
                return;
            this.done = true;
            // The close first: whoever owns the socket learns its code before the calls fail.
            this.dispatch((handlers) => handlers.closed(event.code ?? 1006, event.reason ?? ""));
            this.finish(new WarrenError("connection_lost", "the connection was lost before the answer"));
        };
    }
    /** Starts handing events and the close to `handlers`, those that came already first. */
    listen(handlers) {
        this.handlers = handlers;
        const early = this.early;
        this.early = [];
        for (const deliver of early)
            deliver(handlers);
    }
    dispatch(deliver) {
        if (this.handlers)
            deliver(this.handlers);
        else
            this.early.push(deliver);
    }
    /** Opens a socket to `url`; rejects with OpenFailure if it does not open within `timeoutMs`. */
    static open(Ctor, url, timeoutMs) {
        return new Promise((resolve, reject) => {
            let ws;
            try {
                ws = new Ctor(url);
            }
            catch (error) {
                reject(new OpenFailure(`could not open a WebSocket: ${String(error)}`));
                return;
            }
            let status;
            let settled = false;
            const fail = (message) => {
                if (settled)
                    return;
                settled = true;
                clearTimeout(timer);
                ws.onopen = ws.onclose = ws.onmessage = null;
                reject(new OpenFailure(message, status));
            };
            const timer = setTimeout(() => {
                fail(`the WebSocket did not open within ${timeoutMs} ms`);
                try {
                    ws.close();
                }
                catch {
                    // Already failing: nothing more to stop.
                }
            }, timeoutMs);
            // Node's ws reports a refused upgrade in the error's message; a browser says nothing, so
            // the status stays unknown there and the caller asks over HTTP instead.
            ws.onerror = (event) => {
                const refused = /Unexpected server response: (\d{3})/.exec(String(event?.message ?? ""));
                if (refused)
                    status = Number(refused[1]);
            };
            ws.onclose = (event) => {
                const why = status !== undefined
                    ? `the upgrade was refused with HTTP ${status}`
                    : `closed (${event.code ?? 1006}) before it opened`;
                fail(`the WebSocket did not open: ${why}`);
            };
            ws.onopen = () => {
                if (settled)
                    return;
                settled = true;
                clearTimeout(timer);
                ws.onopen = null;
                resolve(new RpcSocket(ws));
            };
        });
    }
    /** Sends a request; `reply` is called exactly once unless `forget` is called first. */
    request(method, params, reply) {
        const id = this.nextId++;
        if (this.done) {
            reply(new WarrenError("connection_lost", "the connection is closed", { method }));
            return id;
        }
        this.pending.set(id, { method, reply });
        const message = { jsonrpc: "2.0", id, method };
        if (params !== undefined)
            message.params = params;
        try {
            this.ws.send(JSON.stringify(message));
        }
        catch (cause) {
            this.pending.delete(id);
            reply(new WarrenError("connection_lost", "the request could not be sent", { method, cause }));
        }
        return id;
    }
    /** The caller gave up on `id` (its time-out): a late answer is ignored. */
    forget(id) {
        this.pending.delete(id);
    }
    /**
     * Closes the socket from this side: calls in flight fail with `error`, no `closed` handler
     * runs. Resolves when the socket has closed (or after a moment, if it never says so).
     */
    drop(error, code = 1000, reason = "") {
        if (!this.done) {
            this.finish(error);
            try {
                this.ws.close(code, reason);
            }
            catch {
                // Closing a socket that is already going: nothing to do.
            }
        }
        let timer;
        const late = new Promise((resolve) => (timer = setTimeout(resolve, 2000)));
        return Promise.race([this.closedPromise, late]).finally(() => clearTimeout(timer));
    }
    finish(error) {
        this.done = true;
        this.ws.onmessage = null;
        const pending = [...this.pending.values()];
        this.pending.clear();
        for (const { method, reply } of pending) {
            reply(new WarrenError(error.code, error.message, { method }));
        }
    }
    receive(data) {
        if (this.done || typeof data !== "string")
            return;
        let message;
        try {
            message = JSON.parse(data);
        }
        catch {
            return;
        }
        if (typeof message !== "object" || message === null)
            return;
        if (message.method === "event" && message.id === undefined) {
            const event = message.params;
            if (event && typeof event.seq === "number" && typeof event.type === "string") {
                const wire = { seq: event.seq, type: event.type, data: event.data };
                this.dispatch((handlers) => handlers.event(wire));
            }
            return;
        }
        if (typeof message.id !== "number")
            return;
        const entry = this.pending.get(message.id);
        if (!entry)
            return;
        this.pending.delete(message.id);
        if (message.error !== undefined) {
            entry.reply(fromRpcError(message.error, entry.method));
        }
        else {
            entry.reply(undefined, message.result);
        }
    }
}
