// The user's event stream as this client has seen it: the position to resume after, the live
// events held while a resume is answered, and the rule that no seq reaches a handler twice.

import type { WireEvent } from "./rpc.js";

/** The `events.resume` answer. */
export interface ResumeResult {
  events: WireEvent[];
  last_seq: number;
}

/**
 * What a resume's answer is for. `replay`: deliver what was missed. `learn`: a fresh start, take
 * the position only, so that history from before this client is not replayed as news. `resync`:
 * after a gap, take the position anew (unknown if the answer is missing) and tell the game.
 */
export type CatchUp = "replay" | "learn" | "resync";

export class EventStream {
  /** The highest seq handed on (or given, or learnt): what the next resume is after. */
  lastSeq: number;
  /** Whether `lastSeq` is a real position in the user's stream. */
  private knowsSeq: boolean;
  /** Live events that came on a socket before its resume was answered. */
  private held: WireEvent[] = [];

  constructor(
    lastSeq: number | undefined,
    private readonly emit: (event: WireEvent) => void,
  ) {
    this.lastSeq = lastSeq ?? 0;
    this.knowsSeq = lastSeq !== undefined;
  }

  /** Where a new socket's resume starts, and what its answer is for. */
  plan(initial: boolean): { after: number; mode: CatchUp } {
    if (!this.knowsSeq && initial) return { after: 0, mode: "learn" };
    return { after: this.lastSeq, mode: "replay" };
  }

  /** A new socket: what the last one held is gone with it (its resume will bring it again). */
  restart(): void {
    this.held = [];
  }

  /** A live event: handed on once the socket has caught up, held until then. */
  live(event: WireEvent, caughtUp: boolean): void {
    if (caughtUp) this.deliver(event);
    else this.held.push(event);
  }

  /**
   * Applies a resume's answer: replays it, or takes its position. Stops early (returning false)
   * if a handler made the socket stale, by closing the client for instance.
   */
  apply(result: ResumeResult | undefined, mode: CatchUp, current: () => boolean): boolean {
    if (mode === "replay" && result) {
      for (const event of result.events ?? []) {
        if (!current()) return false;
        this.deliver(event);
      }
      if (typeof result.last_seq === "number")
        this.lastSeq = Math.max(this.lastSeq, result.last_seq);
    } else {
      this.knowsSeq = typeof result?.last_seq === "number";
      this.lastSeq = this.knowsSeq ? (result as ResumeResult).last_seq : 0;
    }
    return current();
  }

  /**
   * Hands on the events held while the resume was answered. After a replay they may repeat it;
   * after a fresh start or a gap they are all news (this socket never delivers one twice),
   * though the position just learnt may already count them.
   */
  release(mode: CatchUp, current: () => boolean): void {
    const held = this.held;
    this.held = [];
    for (const event of held) {
      if (!current()) return;
      this.deliver(event, mode !== "replay");
    }
  }

  private deliver(event: WireEvent, news = false): void {
    if (!news && this.knowsSeq && event.seq <= this.lastSeq) return;
    this.lastSeq = Math.max(this.lastSeq, event.seq);
    this.knowsSeq = true;
    this.emit(event);
  }
}
