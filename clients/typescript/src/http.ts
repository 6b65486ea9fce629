// The HTTP half of the protocol (`/v1`): register, login, refresh, logout and the account calls
// that have no socket method. Every failure becomes a WarrenError.

import { WarrenError, fromHttpError } from "./errors.js";
import type { TokenReply } from "./tokens.js";

export type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>;

interface RequestOptions {
  body?: unknown;
  token?: string;
}

export class Http {
  private readonly base: string;
  private readonly fetch: FetchFunction;

  constructor(baseUrl: string, fetchImpl: FetchFunction | undefined) {
    this.base = baseUrl.replace(/\/+$/, "");
    const chosen = fetchImpl ?? (globalThis.fetch as FetchFunction | undefined);
    if (typeof chosen !== "function") {
      throw new TypeError("no fetch: pass options.fetch");
    }
    // Called through a closure: a browser's fetch refuses to run with any `this` but the window.
    this.fetch = (input, init) => chosen(input, init);
  }

  register(username: string, password: string): Promise<{ user_id: string }> {
    return this.request("POST", "/v1/auth/register", { body: { username, password } });
  }

  login(username: string, password: string): Promise<TokenReply> {
    return this.request("POST", "/v1/auth/login", { body: { username, password } });
  }

  refresh(refreshToken: string): Promise<TokenReply> {
    return this.request("POST", "/v1/auth/refresh", { body: { refresh_token: refreshToken } });
  }

  async logout(refreshToken: string, all: boolean): Promise<void> {
    const body = all ? { refresh_token: refreshToken, all: true } : { refresh_token: refreshToken };
    await this.request("POST", "/v1/auth/logout", { body });
  }

  request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return this.send(method, path, options) as Promise<T>;
  }

  /** Whether the gateway answers at all: asked before spending a refresh token on a request. */
  async reachable(): Promise<boolean> {
    try {
      const response = await this.fetch(`${this.base}/healthz`, {
        method: "GET",
        cache: "no-store",
      });
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false;
    }
  }

  private async send(method: string, path: string, options: RequestOptions): Promise<unknown> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    if (options.token !== undefined) headers["Authorization"] = `Bearer ${options.token}`;
    const route = `${method} ${path}`;
    let response: Response;
    try {
      const init: RequestInit = { method, headers, cache: "no-store" };
      if (options.body !== undefined) init.body = JSON.stringify(options.body);
      response = await this.fetch(`${this.base}${path}`, init);
    } catch (cause) {
      throw new WarrenError("connection_lost", `${route}: the server could not be reached`, {
        method: route,
        cause,
      });
    }
    const text = await response.text().catch(() => "");
    let body: unknown = undefined;
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    if (!response.ok) {
      throw fromHttpError(response.status, body, response.headers.get("Retry-After"), route);
    }
    return body;
  }
}
