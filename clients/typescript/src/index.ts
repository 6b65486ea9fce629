// The package's public surface: Warren (log in, connect), the Client it makes, WarrenError, and
// the contract types generated from the server.

export { Warren, type WarrenOptions, type ConnectOptions } from "./warren.js";
export { Client, type LogoutOptions } from "./client.js";
export { WarrenError, type WarrenErrorCode, type ClientErrorCode } from "./errors.js";
export type { Tokens, TokenReply } from "./tokens.js";
export type { ConnectionState, ClosedInfo } from "./connection.js";
export type { ReconnectOptions } from "./backoff.js";
export type { WebSocketConstructor, WebSocketLike } from "./rpc.js";
export type { FetchFunction } from "./http.js";
export type {
  AnyEvent,
  CallArgs,
  CallOptions,
  ClientEvents,
  ClientMethods,
  EventMeta,
  EventType,
  LocalEvents,
  MethodName,
  Params,
  Result,
} from "./api.js";
export { CLIENT_METHODS } from "./generated/methods.js";
// Every contract type (Account, Room, Session, Methods, Events, ErrorCode, …). The generated
// `Tokens` (the server's reply, without `expires_at`) is shadowed by the client's own above.
export type * from "./generated/contracts.js";
