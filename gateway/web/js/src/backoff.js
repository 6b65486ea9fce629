// The reconnect policy: how long to wait before the next attempt. Exponential with full jitter,
// so that thousands of clients dropped by one gateway do not all come back in the same instant.
export class Backoff {
    random;
    initial;
    max;
    failures = 0;
    constructor(options = {}, random = Math.random) {
        this.random = random;
        this.initial = Math.max(0, options.initialDelayMs ?? 500);
        this.max = Math.max(this.initial, options.maxDelayMs ?? 30_000);
    }
    /** The wait before the next attempt: uniformly random in [0, min(max, initial · 2^failures)]. */
    next() {
        const ceiling = Math.min(this.max, this.initial * 2 ** Math.min(this.failures, 30));
        this.failures += 1;
        return Math.round(this.random() * ceiling);
    }
    /** A connection that opened and resumed starts the next series from the first delay. */
    reset() {
        this.failures = 0;
    }
}
