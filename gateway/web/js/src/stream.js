// The user's event stream as this client has seen it: the position to resume after, the live
// events held while a resume is answered, and the rule that no seq reaches a handler twice.
export class EventStream {
    emit;
    /** The highest seq handed on (or given, or learnt): what the next resume is after. */
    lastSeq;
    /** Whether `lastSeq` is a real position in the user's stream. */
    knowsSeq;
    /** Live events that came on a socket before its resume was answered. */
    held = [];
    constructor(lastSeq, emit) {
        this.emit = emit;
        this.lastSeq = lastSeq ?? 0;
        this.knowsSeq = lastSeq !== undefined;
    }
    /** Where a new socket's resume starts, and what its answer is for. */
    plan(initial) {
        if (!this.knowsSeq && initial)
            return { after: 0, mode: "learn" };
        return { after: this.lastSeq, mode: "replay" };
    }
    /** A new socket: what the last one held is gone with it (its resume will bring it again). */
    restart() {
        this.held = [];
    }
    /** A live event: handed on once the socket has caught up, held until then. */
    live(event, caughtUp) {
        if (caughtUp)
            this.deliver(event);
        else
            this.held.push(event);
    }
    /**
     * Applies a resume's answer: replays it, or takes its position. Stops early (returning false)
     * if a handler made the socket stale, by closing the client for instance.
     */
    apply(result, mode, current) {
        if (mode === "replay" && result) {
            for (const event of result.events ?? []) {
                if (!current())
                    return false;
                this.deliver(event);
            }
            if (typeof result.last_seq === "number")
                this.lastSeq = Math.max(this.lastSeq, result.last_seq);
        }
        else {
            this.knowsSeq = typeof result?.last_seq === "number";
            this.lastSeq = this.knowsSeq ? result.last_seq : 0;
        }
        return current();
    }
    /**
     * Hands on the events held while the resume was answered. After a replay they may repeat it;
     * after a fresh start or a gap they are all news (this socket never delivers one twice),
     * though the position just learnt may already count them.
     */
    release(mode, current) {
        const held = this.held;
        this.held = [];
        for (const event of held) {
            if (!current())
                return;
            this.deliver(event, mode !== "replay");
        }
    }
    deliver(event, news = false) {
        if (!news && this.knowsSeq && event.seq <= this.lastSeq)
            return;
        this.lastSeq = Math.max(this.lastSeq, event.seq);
        this.knowsSeq = true;
        this.emit(event);
    }
}
