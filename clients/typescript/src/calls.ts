// The calls a client has made and not had answered: each with its own time-out, which counts
// the wait for a reconnect too; queued while there is no resumed socket, sent in the order they
// were made once there is one, and failed together when the client closes for good.

import { WarrenError } from "./errors.js";
import type { RpcSocket } from "./rpc.js";

interface Call {
  method: string;
  params: unknown;
  resolve(value: unknown): void;
  reject(error: WarrenError): void;
  timer?: ReturnType<typeof setTimeout>;
  socket?: RpcSocket;
  id?: number;
  done: boolean;
}

/** setTimeout's longest delay; a longer one would fire at once. */
const LONGEST_TIMER = 2_147_483_647;

export class Calls {
  private queue: Call[] = [];

  /** Sends the call on `socket` now, or queues it until `flush` is given one. */
  add(
    method: string,
    params: unknown,
    timeoutMs: number,
    socket: RpcSocket | undefined,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const call: Call = { method, params, resolve, reject, done: false };
      if (Number.isFinite(timeoutMs)) {
        const ms = Math.min(Math.max(0, timeoutMs), LONGEST_TIMER);
        call.timer = setTimeout(() => this.expire(call, ms), ms);
      }
      if (socket) this.send(call, socket);
      else this.queue.push(call);
    });
  }

  /** Sends every queued call on `socket`, oldest first. */
  flush(socket: RpcSocket): void {
    const queued = this.queue;
    this.queue = [];
    for (const call of queued) if (!call.done) this.send(call, socket);
  }

  /** Fails every queued call (never sent, so certainly not applied). */
  failQueued(error: (method: string) => WarrenError): void {
    const queued = this.queue;
    this.queue = [];
    for (const call of queued) this.settle(call, error(call.method));
  }

  private send(call: Call, socket: RpcSocket): void {
    call.socket = socket;
    // A socket that drops fails its calls in flight itself (connection_lost): they may or may not
    // have been applied, so they are not sent again.
    call.id = socket.request(call.method, call.params, (error, result) =>
      this.settle(call, error, result),
    );
  }

  private expire(call: Call, ms: number): void {
    if (call.done) return;
    this.queue = this.queue.filter((queued) => queued !== call);
    if (call.socket && call.id !== undefined) call.socket.forget(call.id);
    const error = new WarrenError("timeout", `${call.method} was not answered within ${ms} ms`, {
      method: call.method,
    });
    this.settle(call, error);
  }

  private settle(call: Call, error: WarrenError | undefined, result?: unknown): void {
    if (call.done) return;
    call.done = true;
    if (call.timer !== undefined) clearTimeout(call.timer);
    if (error) call.reject(error);
    else call.resolve(result);
  }
}
