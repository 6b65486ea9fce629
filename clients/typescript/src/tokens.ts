// The tokens a login holds, and what the client reads from them: when the access token expires
// (from `expires_in`, counted on this machine's clock so a skewed clock does not matter) and
// whose it is (the JWT's `sub`).

export interface Tokens {
  access_token: string;
  refresh_token: string;
  /** Seconds the access token was valid for when it was issued. */
  expires_in: number;
  /** When the access token expires: Unix epoch milliseconds, computed when the tokens arrived. */
  expires_at: number;
}

/** The server's login/refresh answer. */
export interface TokenReply {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

/** A token is refreshed this long before it expires, so it does not run out on the way. */
export const REFRESH_MARGIN_MS = 30_000;

export function withExpiry(reply: TokenReply, now = Date.now()): Tokens {
  return {
    access_token: reply.access_token,
    refresh_token: reply.refresh_token,
    expires_in: reply.expires_in,
    expires_at: now + reply.expires_in * 1000,
  };
}

/** Saved tokens may come without `expires_at` (a raw login reply): then the JWT's `exp` says. */
export function normalizeTokens(tokens: TokenReply & { expires_at?: number }): Tokens {
  if (typeof tokens.expires_at === "number") return { ...tokens, expires_at: tokens.expires_at };
  const exp = claims(tokens.access_token)?.exp;
  return {
    ...tokens,
    expires_at: typeof exp === "number" ? exp * 1000 : 0,
  };
}

export function isStale(tokens: Tokens, now = Date.now()): boolean {
  return tokens.expires_at - now <= REFRESH_MARGIN_MS;
}

/** The user a token speaks for. */
export function userIdOf(accessToken: string): string {
  const sub = claims(accessToken)?.sub;
  if (typeof sub !== "string" || sub === "") {
    throw new TypeError("the access token names no user (no `sub` claim)");
  }
  return sub;
}

function claims(jwt: string): Record<string, unknown> | undefined {
  const payload = jwt.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), "="));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof value === "object" && value !== null
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
