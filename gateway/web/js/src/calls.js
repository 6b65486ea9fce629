// The calls a client has made and not had answered: each with its own time-out, which counts
// the wait for a reconnect too; queued while there is no resumed socket, sent in the order they
// were made once there is one, and failed together when the client closes for good.
import { WarrenError } from "./errors.js";
/** setTimeout's longest delay; a longer one would fire at once. */
const LONGEST_TIMER = 2_147_483_647;
export class Calls {
    queue = [];
    /** Sends the call on `socket` now, or queues it until `flush` is given one. */
    add(method, params, timeoutMs, socket) {
        return new Promise((resolve, reject) => {
            const call = { method, params, resolve, reject, done: false };
            if (Number.isFinite(timeoutMs)) {
                const ms = Math.min(Math.max(0, timeoutMs), LONGEST_TIMER);
                call.timer = setTimeout(() => this.expire(call, ms), ms);
            }
            if (socket)
                this.send(call, socket);
            else
                this.queue.push(call);
        });
    }
    /** Sends every queued call on `socket`, oldest first. */
    flush(socket) {
        const queued = this.queue;
        this.queue = [];
        for (const call of queued)
            if (!call.done)
                this.send(call, socket);
    }
    /** Fails every queued call (never sent, so certainly not applied). */
    failQueued(error) {
        const queued = this.queue;
        this.queue = [];
        for (const call of queued)
            this.settle(call, error(call.method));
    }
    send(call, socket) {
        call.socket = socket;
        // A socket that drops fails its calls in flight itself (connection_lost): they may or may not
        // have been applied, so they are not sent again.
        call.id = socket.request(call.method, call.params, (error, result) => this.settle(call, error, result));
    }
    expire(call, ms) {
        if (call.done)
            return;
        this.queue = this.queue.filter((queued) => queued !== call);
        if (call.socket && call.id !== undefined)
            call.socket.forget(call.id);
        const error = new WarrenError("timeout", `${call.method} was not answered within ${ms} ms`, {
            method: call.method,
        });
        this.settle(call, error);
    }
    settle(call, error, result) {
        if (call.done)
            return;
        call.done = true;
        if (call.timer !== undefined)
            clearTimeout(call.timer);
        if (error)
            call.reject(error);
        else
            call.resolve(result);
    }
}
