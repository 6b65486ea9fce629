// The HTTP half of the protocol (`/v1`): register, login, refresh, logout and the account calls
// that have no socket method. Every failure becomes a WarrenError.
import { WarrenError, fromHttpError } from "./errors.js";
export class Http {
    base;
    fetch;
    constructor(baseUrl, fetchImpl) {
        this.base = baseUrl.replace(/\/+$/, "");
        const chosen = fetchImpl ?? globalThis.fetch;
        if (typeof chosen !== "function") {
            throw new TypeError("no fetch: pass options.fetch");
        }
        // Called through a closure: a browser's fetch refuses to run with any `this` but the window.
        this.fetch = (input, init) => chosen(input, init);
    }
    register(username, password) {
        return this.request("POST", "/v1/auth/register", { body: { username, password } });
    }
    login(username, password) {
        return this.request("POST", "/v1/auth/login", { body: { username, password } });
    }
    refresh(refreshToken) {
        return this.request("POST", "/v1/auth/refresh", { body: { refresh_token: refreshToken } });
    }
    async logout(refreshToken, all) {
        const body = all ? { refresh_token: refreshToken, all: true } : { refresh_token: refreshToken };
        await this.request("POST", "/v1/auth/logout", { body });
    }
    request(method, path, options = {}) {
        return this.send(method, path, options);
    }
    /** Whether the gateway answers at all: asked before spending a refresh token on a request. */
    async reachable() {
        try {
            const response = await this.fetch(`${this.base}/healthz`, {
                method: "GET",
                cache: "no-store",
            });
            await response.body?.cancel();
            return response.ok;
        }
        catch {
            return false;
        }
    }
    async send(method, path, options) {
        const headers = { Accept: "application/json" };
        if (options.body !== undefined)
            headers["Content-Type"] = "application/json";
        if (options.token !== undefined)
            headers["Authorization"] = `Bearer ${options.token}`;
        const route = `${method} ${path}`;
        let response;
        try {
            const init = { method, headers, cache: "no-store" };
            if (options.body !== undefined)
                init.body = JSON.stringify(options.body);
            response = await this.fetch(`${this.base}${path}`, init);
        }
        catch (cause) {
            throw new WarrenError("connection_lost", `${route}: the server could not be reached`, {
                method: route,
                cause,
            });
        }
        const text = await response.text().catch(() => "");
        let body = undefined;
        if (text !== "") {
            try {
                body = JSON.parse(text);
            }
            catch {
                body = undefined;
            }
        }
        if (!response.ok) {
            throw fromHttpError(response.status, body, response.headers.get("Retry-After"), route);
        }
        return body;
    }
}
