// A small typed event emitter. A handler that throws is reported and does not keep the event
// from the handlers after it: one buggy listener must not make the game miss an event.

export class Emitter<M extends { [K in keyof M]: unknown[] }> {
  private readonly listeners = new Map<keyof M, Set<(...args: any[]) => void>>();

  on<K extends keyof M>(type: K, listener: (...args: M[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    // Wrapped so that one function added twice is two subscriptions, each with its own `off`.
    const entry = (...args: any[]): void => listener(...(args as M[K]));
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  emit<K extends keyof M>(type: K, ...args: M[K]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        report(error);
      }
    }
  }
}

function report(error: unknown): void {
  const global = globalThis as { reportError?: (error: unknown) => void };
  if (typeof global.reportError === "function") global.reportError(error);
  else console.error("a Warren event handler threw:", error);
}
