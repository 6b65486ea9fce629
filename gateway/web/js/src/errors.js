// WarrenError, the one error type every refused call rejects with, and the mappings from the
// server's two error shapes (JSON-RPC over the socket, `{"error": …}` over HTTP) onto it.
export class WarrenError extends Error {
    /** The server's stable snake_case code, or a client-side one. */
    code;
    /** JSON-RPC `error.code` (-32000, -32602, …) when it came over the socket. */
    rpcCode;
    /** HTTP status when it came over HTTP. */
    status;
    /** How long to wait before trying again, from `rate_limited`. */
    retryAfterMs;
    /** The method (or HTTP route) that was refused. */
    method;
    constructor(code, message, init = {}) {
        super(message, init.cause === undefined ? undefined : { cause: init.cause });
        this.name = "WarrenError";
        this.code = code;
        if (init.rpcCode !== undefined)
            this.rpcCode = init.rpcCode;
        if (init.status !== undefined)
            this.status = init.status;
        if (init.retryAfterMs !== undefined)
            this.retryAfterMs = init.retryAfterMs;
        if (init.method !== undefined)
            this.method = init.method;
    }
}
// Only -32000 carries the stable code in `data`; the protocol-level codes carry none (-32602 may),
// so they are named here. A malformed request is the client's fault in the same way as bad params.
const RPC_CODES = {
    [-32700]: "invalid_params",
    [-32600]: "invalid_params",
    [-32601]: "unknown_method",
    [-32602]: "invalid_params",
};
export function fromRpcError(error, method) {
    const data = error.data;
    const code = (typeof data?.code === "string" ? data.code : RPC_CODES[error.code]) ?? "internal";
    const init = { rpcCode: error.code, method };
    if (typeof data?.retry_after_ms === "number")
        init.retryAfterMs = data.retry_after_ms;
    return new WarrenError(code, String(error.message ?? code), init);
}
// For bodies that are not Warren's JSON error (a proxy's page, an empty 502): name the status.
const STATUS_CODES = {
    400: "invalid_params",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "already_exists",
    422: "invalid_params",
    429: "rate_limited",
    503: "unavailable",
    504: "timeout",
};
/** `Retry-After` is seconds or an HTTP date; both become milliseconds from now. */
export function parseRetryAfter(value) {
    if (value === null || value.trim() === "")
        return undefined;
    const seconds = Number(value);
    if (Number.isFinite(seconds))
        return Math.max(0, seconds * 1000);
    const date = Date.parse(value);
    return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
export function fromHttpError(status, body, retryAfter, route) {
    const error = body?.error;
    const code = typeof error?.code === "string" ? error.code : (STATUS_CODES[status] ?? "internal");
    const message = typeof error?.message === "string" ? error.message : `HTTP ${status}`;
    const init = { status, method: route };
    const retryAfterMs = parseRetryAfter(retryAfter);
    if (retryAfterMs !== undefined)
        init.retryAfterMs = retryAfterMs;
    return new WarrenError(code, message, init);
}
