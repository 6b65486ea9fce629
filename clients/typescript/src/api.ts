// The typed face of the socket methods and events, all derived from the generated contracts:
// `client.rooms.create(…)` and friends are built at run time from CLIENT_METHODS and typed from
// `Methods`, so a method that leaves the contracts leaves the client, and code calling it fails
// to compile.

import type { Events, Methods } from "./generated/contracts.js";
import { CLIENT_METHODS } from "./generated/methods.js";
import type { ClosedInfo, ConnectionState } from "./connection.js";
import type { Tokens } from "./tokens.js";

export type MethodName = keyof Methods & string;
export type Params<M extends MethodName> = Methods[M]["params"];
export type Result<M extends MethodName> = Methods[M]["result"];

export interface CallOptions {
  /** This call's time-out (waiting for a reconnect included); default `callTimeoutMs`. */
  timeoutMs?: number;
}

/** A method whose params may all be left out (`{}`, or only optional fields) takes them optionally. */
export type CallArgs<M extends MethodName> =
  {} extends Params<M>
    ? [params?: Params<M>, options?: CallOptions]
    : [params: Params<M>, options?: CallOptions];

type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;
type ServiceOf<M extends string> = M extends `${infer Service}.${string}` ? Service : never;

/** `{ rooms: { create(…) … }, privateRooms: { … }, … }`, one namespace per service. */
export type ClientMethods = {
  readonly [S in ServiceOf<MethodName> as CamelCase<S>]: {
    readonly [M in MethodName as M extends `${S}.${infer Name}` ? CamelCase<Name> : never]: (
      ...args: CallArgs<M>
    ) => Promise<Result<M>>;
  };
};

// The list the namespaces are built from and the types they are checked against must agree:
// this fails to compile when the generator's two outputs disagree.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type MethodListsAgree = Assert<Same<(typeof CLIENT_METHODS)[number], MethodName>>;

export type Caller = (method: string, params: unknown, options?: CallOptions) => Promise<unknown>;

export function buildMethods(call: Caller): ClientMethods {
  const namespaces: Record<string, Record<string, unknown>> = {};
  for (const method of CLIENT_METHODS) {
    const dot = method.indexOf(".");
    const service = camelCase(method.slice(0, dot));
    const name = camelCase(method.slice(dot + 1));
    const namespace = (namespaces[service] ??= {});
    namespace[name] = (params?: unknown, options?: CallOptions) => call(method, params, options);
  }
  for (const namespace of Object.values(namespaces)) Object.freeze(namespace);
  return namespaces as unknown as ClientMethods;
}

function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

// --- events ---------------------------------------------------------------------------------

export type EventType = keyof Events & string;

/** Where an event sits in the user's stream. */
export interface EventMeta<K extends string = EventType> {
  seq: number;
  type: K;
}

/** Events the client itself raises, beside the server's. */
export interface LocalEvents {
  /** The connection's state changed. */
  state: [state: ConnectionState];
  /** A reconnect could not replay what was missed (`resume_gap`): re-read your state. */
  resync: [];
  /** The tokens were refreshed: save them. */
  tokens: [tokens: Tokens];
  /** The client closed for good. */
  closed: [info: ClosedInfo];
}

export type ClientEvents = LocalEvents & {
  [K in EventType]: [data: Events[K], meta: EventMeta<K>];
};

/** `onAny`'s arguments: narrow `data` by testing `type`. */
export type AnyEvent = {
  [K in EventType]: [type: K, data: Events[K], meta: EventMeta<K>];
}[EventType];
