// WarrenError, the one error type every refused call rejects with, and the mappings from the
// server's two error shapes (JSON-RPC over the socket, `{"error": …}` over HTTP) onto it.

import type { ErrorCode } from "./generated/contracts.js";

/** Codes the client itself gives, for what never reached an answer from the server. */
export type ClientErrorCode = "connection_lost" | "closed";

/** A server code, or one of the client's own. */
export type WarrenErrorCode = ErrorCode | ClientErrorCode;

export interface WarrenErrorInit {
  rpcCode?: number;
  status?: number;
  retryAfterMs?: number;
  method?: string;
  cause?: unknown;
}

export class WarrenError extends Error {
  /** The server's stable snake_case code, or a client-side one. */
  readonly code: WarrenErrorCode;
  /** JSON-RPC `error.code` (-32000, -32602, …) when it came over the socket. */
  readonly rpcCode?: number;
  /** HTTP status when it came over HTTP. */
  readonly status?: number;
  /** How long to wait before trying again, from `rate_limited`. */
  readonly retryAfterMs?: number;
  /** The method (or HTTP route) that was refused. */
  readonly method?: string;

  constructor(code: WarrenErrorCode, message: string, init: WarrenErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "WarrenError";
    this.code = code;
    if (init.rpcCode !== undefined) this.rpcCode = init.rpcCode;
    if (init.status !== undefined) this.status = init.status;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    if (init.method !== undefined) this.method = init.method;
  }
}

/** A JSON-RPC `error` member as the gateway sends it. */
export interface RpcErrorBody {
  code: number;
  message: string;
  data?: { code?: string; retry_after_ms?: number; [key: string]: unknown };
}

// Only -32000 carries the stable code in `data`; the protocol-level codes carry none (-32602 may),
// so they are named here. A malformed request is the client's fault in the same way as bad params.
const RPC_CODES: Record<number, ErrorCode> = {
  [-32700]: "invalid_params",
  [-32600]: "invalid_params",
  [-32601]: "unknown_method",
  [-32602]: "invalid_params",
};

export function fromRpcError(error: RpcErrorBody, method: string): WarrenError {
  const data = error.data;
  const code = (typeof data?.code === "string" ? data.code : RPC_CODES[error.code]) ?? "internal";
  const init: WarrenErrorInit = { rpcCode: error.code, method };
  if (typeof data?.retry_after_ms === "number") init.retryAfterMs = data.retry_after_ms;
  return new WarrenError(code as ErrorCode, String(error.message ?? code), init);
}

// For bodies that are not Warren's JSON error (a proxy's page, an empty 502): name the status.
const STATUS_CODES: Record<number, ErrorCode> = {
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
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export function fromHttpError(
  status: number,
  body: unknown,
  retryAfter: string | null,
  route: string,
): WarrenError {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof error?.code === "string" ? error.code : (STATUS_CODES[status] ?? "internal");
  const message = typeof error?.message === "string" ? error.message : `HTTP ${status}`;
  const init: WarrenErrorInit = { status, method: route };
  const retryAfterMs = parseRetryAfter(retryAfter);
  if (retryAfterMs !== undefined) init.retryAfterMs = retryAfterMs;
  return new WarrenError(code as ErrorCode, message, init);
}
