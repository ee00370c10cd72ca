// The wire types of a Rhizome node (API.md §1-§4): what goes over HTTP,
// SSE and WebSocket. Types only: this file is also the first part of the
// node's `GET /api/types.d.ts` (the node includes it verbatim), so it must
// stay valid both as a module and as a declaration file.

/** A primitive target: string, number, boolean or null. */
export type Primitive = string | number | boolean | null;

/** A reference to an entity (or, for negations, a delta): `{"id": ID}`. */
export interface Ref {
  id: string;
}

/** Any JSON value. */
export type Json = Primitive | Json[] | { [key: string]: Json };

/**
 * A pointer of a v1 delta. With `targetContext` the target is an entity id
 * (a reference filed under that entity's property `targetContext`);
 * `{id}` without context is a reference filed nowhere; anything else is a
 * primitive.
 */
export interface Pointer {
  localContext: string;
  target: Primitive | Ref;
  targetContext?: string | null;
}

/** A delta in the v1 wire format (the one a node writes by default). */
export interface Delta {
  id: string;
  /** Milliseconds since the Unix epoch, a positive integer. */
  timeCreated: number;
  host: string;
  creator: string;
  pointers: Pointer[];
  /** Base64url Ed25519 signature of the canonical form (API.md §6). */
  signature?: string;
}

/** A delta in the v2 format: `pointers` is an object, `{ID: CONTEXT}` a reference. */
export interface DeltaV2 {
  id: string;
  timeCreated: number;
  host: string;
  creator: string;
  pointers: { [role: string]: Primitive | { [id: string]: string } };
  signature?: string;
}

/** A delta in the rhizomedb format. */
export interface DeltaRhizomedb {
  id: string;
  timestamp: number;
  author: string;
  system: string;
  pointers: { role: string; target: string | number | boolean | { id: string; context?: string | null } }[];
  signature?: string;
}

/** Any input format a node accepts. */
export type AnyDelta = Delta | DeltaV2 | DeltaRhizomedb;

/** Output formats (`?format=`). */
export type Format = "v1" | "v2" | "rhizomedb";

/** `POST /api/deltas` and WebSocket `put`: ids stored now, ids already stored. */
export interface PutResult {
  accepted: string[];
  duplicates: string[];
}

/** A page of the changes feed, `GET /api/deltas`. */
export interface FeedPage<D = Delta> {
  deltas: D[];
  /** The last sequence number scanned: pass it as `since` to continue. */
  last_seq: number;
}

/** An entity's expanded target in a hyperview under a schema. */
export interface NestedHyperview {
  id: string;
  properties: { [property: string]: HyperviewDelta[] };
}

/** A pointer of a hyperview delta: its target may be expanded by a schema. */
export interface HyperviewPointer {
  localContext: string;
  target: Primitive | Ref | NestedHyperview;
  targetContext?: string | null;
}

/** A delta as a hyperview lists it (v1, targets possibly expanded). */
export interface HyperviewDelta {
  id: string;
  timeCreated: number;
  host: string;
  creator: string;
  pointers: HyperviewPointer[];
  signature?: string;
}

/** `GET /api/hyperview/:id`: every visible delta per property, sorted by (timeCreated, id). */
export interface Hyperview<K extends string = string> {
  id: string;
  properties: { [P in K]?: HyperviewDelta[] };
}

/** The value of a property in a view without a schema. */
export type Value = Json;

/** `GET /api/view/:id`: properties resolved by strategies. */
export interface View<P = { [property: string]: Value }> {
  id: string;
  properties: P;
}

/** `POST /api/query` body. */
export interface QueryRequest {
  schema?: string;
  as_of?: number;
  strategy?: string;
  /** JSON Logic over the view `{"id", "properties"}`. */
  filter?: Json;
  ids?: string[];
  limit?: number;
}

/** `POST /api/query` answer: views sorted by id. */
export interface QueryResult<P = { [property: string]: Value }> {
  views: View<P>[];
}

/** `GET /api/health`. */
export interface Health {
  status: "ok";
  node: string;
  deltas: number;
}

/** `GET /api/transactions/:id`. */
export interface TransactionStatus {
  id: string;
  size: number | null;
  received: number;
  complete: boolean;
}

/** One peer of `GET /api/peers`. */
export interface PeerInfo {
  node_id: string;
  status: "connected" | "disconnected" | "unreachable" | "refused";
  deltas_sent: number;
  deltas_received: number;
  last_seen: number | null;
  last_sync?: number | null;
  syncs?: number;
  sync_failures?: number;
  configured?: boolean;
  last_error?: string | null;
}

/** `GET /api/peers`. */
export interface Peers {
  self: { node_id: string; addrs: string[]; ticket: string | null };
  sync?: "on" | "off";
  peers: PeerInfo[];
}

/** A HyperSchema (`PUT /api/schemas/:name`). */
export interface HyperSchema {
  name: string;
  select: "by-target-context";
  contexts?: string[];
  transform?: { [role: string]: { schema: string } | { primitive: string } };
  max_depth?: number;
}

/** The body of every error answer: `{"error": {"code", "message", ...details}}`. */
export interface ErrorBody {
  error: ErrorDetail;
}

/** An error's code, message and details (`index`, `id`, `field`, ...). */
export interface ErrorDetail {
  code: string;
  message: string;
  [detail: string]: Json | undefined;
}

/** A filter of a WebSocket subscription (lists OR'ed, fields AND'ed). */
export interface SubscriptionFilter {
  entities?: string[];
  creators?: string[];
  hosts?: string[];
  properties?: string[];
  from?: number;
  to?: number;
}

/** A subscription or watch id, chosen by the client. */
export type SubId = string | number;

/** Frames a WebSocket client sends (`GET /api/ws`). */
export type ClientMessage =
  | { op: "subscribe"; id: SubId; filter?: SubscriptionFilter; since?: number; format?: Format }
  | { op: "watch"; id: SubId; entity: string; schema?: string; strategy?: string; as_of?: number }
  | { op: "unsubscribe"; id: SubId }
  | { op: "put"; ref: SubId; deltas: AnyDelta[] | AnyDelta | { deltas: AnyDelta[] } }
  | { op: "ping" }
  | { op: "doc"; id: SubId; entity: string; property: string; heads?: string[] }
  | { op: "doc_put"; ref: SubId; entity: string; property: string; changes: string };

/** Frames a node sends on a WebSocket. */
export type ServerMessage =
  | { type: "delta"; sub: SubId; seq: number; delta: Delta }
  | { type: "view"; sub: SubId; view: View }
  | { type: "ack"; ref: SubId; accepted: string[]; duplicates: string[] }
  | { type: "error"; sub?: SubId; ref?: SubId; seq?: number; error: ErrorDetail }
  | { type: "overflow"; sub: SubId; last_seq: number }
  | { type: "changes"; sub: SubId; changes: string; heads: string[] }
  | { type: "pong" };

/** The built-in resolution strategies and their aliases. */
export type BuiltinStrategy =
  | "last-write-wins" | "most-recent" | "first-write-wins" | "first-write"
  | "all-values" | "min" | "minimum" | "max" | "maximum" | "sum" | "average"
  | "count" | "concatenation" | "majority-vote" | "consensus"
  | "trusted-author" | "trusted-system";

/** Strategies whose result is one of the property's values. */
export type ValueStrategy =
  | "last-write-wins" | "most-recent" | "first-write-wins" | "first-write"
  | "majority-vote" | "consensus" | "trusted-author" | "trusted-system";

/** Strategies whose result is a number (numeric ones, and `count`). */
export type NumericStrategy = "min" | "minimum" | "max" | "maximum" | "sum" | "average" | "count";

/**
 * How views are resolved: one strategy for every property, or one per
 * property (`strategies=P:S`; properties not named use last-write-wins).
 */
export type Strategies = string | { [property: string]: string };

/** The strategy `S` applies to property `K`. */
export type StrategyFor<S, K> = S extends string
  ? S
  : K extends keyof S
    ? S[K]
    : "last-write-wins";

/**
 * The type of a property whose values are `T` once resolved by strategy
 * `S`: `all-values` gives the list, the numeric ones and `count` a number,
 * `concatenation` a string, value-picking strategies a `T`, any other
 * (user or plugin) strategy an unknown JSON value.
 */
export type Resolved<T, S> = S extends "all-values"
  ? T[]
  : S extends NumericStrategy
    ? number
    : S extends "concatenation"
      ? string
      : S extends ValueStrategy
        ? T
        : Json;
