// What survives a reload of the tab: the login's tokens, the highest event seq seen (to resume
// after it), where the player was (a game, a room), and the event log. sessionStorage, so each tab
// is its own player and closing the tab forgets it.

import type { Tokens } from "../../src/index.js";

const TOKENS = "warren.tokens";
const LAST_SEQ = "warren.lastSeq";
const PLACE = "warren.place";
const LOG = "warren.log";

/** Where the player was when the page was last saved: re-read on reload and on resync. */
export interface Place {
  sessionId?: string;
  roomId?: string;
  /** A private room's invite code (its room id is in `roomId`). */
  code?: string;
}

export interface LogEntry {
  seq: number;
  type: string;
}

function read<T>(key: string): T | undefined {
  const text = sessionStorage.getItem(key);
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    sessionStorage.removeItem(key);
    return undefined;
  }
}

function write(key: string, value: unknown): void {
  sessionStorage.setItem(key, JSON.stringify(value));
}

export const saved = {
  tokens: (): Tokens | undefined => read<Tokens>(TOKENS),
  setTokens: (tokens: Tokens): void => write(TOKENS, tokens),
  lastSeq: (): number => read<number>(LAST_SEQ) ?? 0,
  setLastSeq: (seq: number): void => write(LAST_SEQ, seq),
  place: (): Place => read<Place>(PLACE) ?? {},
  setPlace: (place: Place): void => write(PLACE, place),
  log: (): LogEntry[] => read<LogEntry[]>(LOG) ?? [],
  setLog: (entries: LogEntry[]): void => write(LOG, entries),
  clear(): void {
    for (const key of [TOKENS, LAST_SEQ, PLACE, LOG]) sessionStorage.removeItem(key);
  },
};
