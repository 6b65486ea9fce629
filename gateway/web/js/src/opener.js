// Opening a socket with the login's access token: refreshed first when stale, and refreshed once
// more when the upgrade is refused for the token (401), which ws in Node reports and a browser
// hides, so there the same token is tried over HTTP to tell a refusal from a network failure.
import { WarrenError } from "./errors.js";
import { OpenFailure, RpcSocket } from "./rpc.js";
export class Opener {
    options;
    constructor(options) {
        this.options = options;
    }
    /** How long a socket may take to open; a resume's answer is given as long. */
    get timeoutMs() {
        return this.options.connectTimeoutMs;
    }
    /** An open socket, or the reason there is none (OpenFailure, or a WarrenError of the refresh). */
    async open(checkExpiry) {
        const { login } = this.options;
        const tokens = checkExpiry ? await login.fresh() : login.tokens;
        try {
            return await this.openWith(tokens.access_token);
        }
        catch (error) {
            if (!(error instanceof OpenFailure) || !(await this.refused(error, tokens.access_token))) {
                throw error;
            }
            const next = await login.refreshAfterRefusal(tokens.access_token);
            return await this.openWith(next.access_token);
        }
    }
    openWith(accessToken) {
        const { WebSocket, socketUrl, connectTimeoutMs } = this.options;
        return RpcSocket.open(WebSocket, socketUrl(accessToken), connectTimeoutMs);
    }
    async refused(failure, accessToken) {
        if (failure.status !== undefined)
            return failure.status === 401;
        try {
            await this.options.http.request("GET", "/v1/accounts/me", { token: accessToken });
            return false;
        }
        catch (error) {
            return error instanceof WarrenError && error.status === 401;
        }
    }
}
/** A first socket that could not be opened, as the error `login`/`connect` reject with. */
export function openError(error) {
    if (error instanceof WarrenError)
        return error;
    if (error instanceof OpenFailure) {
        const { status } = error;
        const code = status === 401
            ? "unauthorized"
            : status === 429
                ? "rate_limited"
                : status === 503
                    ? "unavailable"
                    : "connection_lost";
        return new WarrenError(code, error.message, status === undefined ? { cause: error } : { status, cause: error });
    }
    return new WarrenError("connection_lost", String(error), { cause: error });
}
