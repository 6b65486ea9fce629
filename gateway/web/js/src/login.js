// One login's tokens and their refresh. A refresh token works once and the server ends the whole
// login when one is sent twice, so a refresh is never repeated with a token that may have been
// spent: one refresh at a time, and any doubt about whether it was used ends the login here too.
import { WarrenError } from "./errors.js";
import { isStale, withExpiry } from "./tokens.js";
export class Login {
    http;
    hooks;
    current;
    refreshing;
    endedWith;
    constructor(http, tokens, hooks) {
        this.http = http;
        this.hooks = hooks;
        this.current = tokens;
    }
    get tokens() {
        return this.current;
    }
    get ended() {
        return this.endedWith;
    }
    /** Tokens good for at least the refresh margin, refreshing first when they are not. */
    fresh() {
        if (this.endedWith)
            return Promise.reject(this.endedWith);
        return isStale(this.current) ? this.refresh() : Promise.resolve(this.current);
    }
    /**
     * New tokens, because `refusedAccessToken` was refused (401). If the tokens were refreshed
     * since it was handed out, the newer ones are the answer: no second refresh for one refusal.
     */
    refreshAfterRefusal(refusedAccessToken) {
        if (this.endedWith)
            return Promise.reject(this.endedWith);
        if (this.current.access_token !== refusedAccessToken)
            return Promise.resolve(this.current);
        return this.refresh();
    }
    /** An HTTP call with the access token, refreshed when stale or refused once. */
    async authorized(call) {
        const tokens = await this.fresh();
        try {
            return await call(tokens.access_token);
        }
        catch (error) {
            if (!(error instanceof WarrenError) || error.status !== 401)
                throw error;
            const next = await this.refreshAfterRefusal(tokens.access_token);
            return call(next.access_token);
        }
    }
    /**
     * Ends the login on the server (with `all`, every login of the user). A refresh under way is
     * let finish first, so that the token sent is the one the server holds and not a spent one.
     */
    async logout(all) {
        await this.refreshing?.catch(() => undefined);
        if (this.endedWith)
            return;
        const token = this.current.refresh_token;
        this.endedWith = new WarrenError("closed", "logged out");
        await this.http.logout(token, all);
    }
    end(error) {
        if (this.endedWith)
            return;
        this.endedWith = error;
        this.hooks.ended(error);
    }
    refresh() {
        this.refreshing ??= this.refreshOnce().finally(() => {
            this.refreshing = undefined;
        });
        return this.refreshing;
    }
    async refreshOnce() {
        const token = this.current.refresh_token;
        // A refresh that fails on the way may have spent the token; one that never left did not.
        // Checking that the gateway answers first keeps an offline moment from costing the login.
        if (!(await this.http.reachable())) {
            throw new WarrenError("connection_lost", "the server cannot be reached to refresh the tokens");
        }
        if (this.endedWith)
            throw this.endedWith;
        let reply;
        try {
            reply = await this.http.refresh(token);
        }
        catch (error) {
            // Refused before the token was looked at (the address's rate, auth not running): the
            // token is unspent and may be tried again later. Anything else may have spent it.
            if (error instanceof WarrenError &&
                (error.code === "rate_limited" || error.code === "unavailable")) {
                throw error;
            }
            const why = error instanceof WarrenError && error.status === 401
                ? "the login has ended (its refresh token was refused)"
                : "the login is lost: a token refresh failed on the way and its refresh token may be spent";
            const ended = new WarrenError("unauthorized", `${why}; log in again`, {
                method: "POST /v1/auth/refresh",
                ...(error instanceof WarrenError && error.status !== undefined
                    ? { status: error.status }
                    : {}),
                cause: error,
            });
            this.end(ended);
            throw ended;
        }
        this.current = withExpiry(reply);
        this.hooks.tokens(this.current);
        return this.current;
    }
}
