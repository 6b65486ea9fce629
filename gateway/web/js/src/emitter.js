// A small typed event emitter. A handler that throws is reported and does not keep the event
// from the handlers after it: one buggy listener must not make the game miss an event.
export class Emitter {
    listeners = new Map();
    on(type, listener) {
        let set = this.listeners.get(type);
        if (!set)
            this.listeners.set(type, (set = new Set()));
        // Wrapped so that one function added twice is two subscriptions, each with its own `off`.
        const entry = (...args) => listener(...args);
        set.add(entry);
        return () => {
            set.delete(entry);
        };
    }
    emit(type, ...args) {
        const set = this.listeners.get(type);
        if (!set)
            return;
        for (const listener of [...set]) {
            try {
                listener(...args);
            }
            catch (error) {
                report(error);
            }
        }
    }
}
function report(error) {
    const global = globalThis;
    if (typeof global.reportError === "function")
        global.reportError(error);
    else
        console.error("a Warren event handler threw:", error);
}
