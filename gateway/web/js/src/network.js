// The browser's word on the network: a tab that goes offline keeps a dead socket that may take
// minutes to notice, so the client drops it at once and reconnects as soon as it is back online.
/** Watches `online`/`offline` where there are such events (a page or a worker); else undefined. */
export function watchNetwork(onOffline, onOnline) {
    const global = globalThis;
    if (typeof global.addEventListener !== "function" || typeof global.navigator !== "object") {
        return undefined;
    }
    const browser = global;
    browser.addEventListener("offline", onOffline);
    browser.addEventListener("online", onOnline);
    return {
        offline: () => browser.navigator?.onLine === false,
        stop: () => {
            browser.removeEventListener("offline", onOffline);
            browser.removeEventListener("online", onOnline);
        },
    };
}
