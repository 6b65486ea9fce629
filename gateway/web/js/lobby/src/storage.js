// What survives a reload of the tab: the login's tokens, the highest event seq seen (to resume
// after it), where the player was (a game, a room), and the event log. sessionStorage, so each tab
// is its own player and closing the tab forgets it.
const TOKENS = "warren.tokens";
const LAST_SEQ = "warren.lastSeq";
const PLACE = "warren.place";
const LOG = "warren.log";
function read(key) {
    const text = sessionStorage.getItem(key);
    if (text === null)
        return undefined;
    try {
        return JSON.parse(text);
    }
    catch {
        sessionStorage.removeItem(key);
        return undefined;
    }
}
function write(key, value) {
    sessionStorage.setItem(key, JSON.stringify(value));
}
export const saved = {
    tokens: () => read(TOKENS),
    setTokens: (tokens) => write(TOKENS, tokens),
    lastSeq: () => read(LAST_SEQ) ?? 0,
    setLastSeq: (seq) => write(LAST_SEQ, seq),
    place: () => read(PLACE) ?? {},
    setPlace: (place) => write(PLACE, place),
    log: () => read(LOG) ?? [],
    setLog: (entries) => write(LOG, entries),
    clear() {
        for (const key of [TOKENS, LAST_SEQ, PLACE, LOG])
            sessionStorage.removeItem(key);
    },
};
