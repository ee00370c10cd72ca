// The Rhizome client: HTTP for reads and writes, WebSocket for live
// subscriptions and watches, SSE for the changes feed; an optional
// offline outbox and view cache.

import { Channel } from "./channel.js";
import { RhizomeError, UnreachableError, errorFrom } from "./errors.js";
import { Outbox, overlay, type Rejected } from "./outbox.js";
import type { OfflineStore } from "./store.js";
import type {
  AnyDelta,
  ClientMessage,
  Delta,
  FeedPage,
  Format,
  Health,
  Hyperview,
  HyperSchema,
  Json,
  Peers,
  Primitive,
  PutResult,
  QueryRequest,
  Ref,
  ServerMessage,
  SubscriptionFilter,
  TransactionStatus,
  View,
} from "./wire.js";

/** A WebSocket constructor (the browser's, Node 22's, or one passed in). */
export type WebSocketLike = new (url: string) => WebSocket;

/** How to build a client. */
export interface ClientOptions {
  /** The node's base URL: `http://127.0.0.1:4000`. */
  url: string;
  /** A token (API.md §6), or a function giving the current one. */
  token?: string | (() => string | undefined);
  /** The `host` of deltas this client makes (default `"ts-client"`). */
  host?: string;
  /** The `creator` of deltas this client makes (default `"anonymous"`). */
  creator?: string;
  /** `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** WebSocket to use (default: the global one; Node 20 needs `--experimental-websocket` or a library). */
  WebSocket?: WebSocketLike;
  /** Milliseconds before a request gives up (default 30 000). */
  timeoutMs?: number;
  /**
   * Offline first: writes go through a durable outbox in this store and
   * reads fall back to the views last seen (see `docs/typescript.md`).
   */
  offline?: {
    store: OfflineStore;
    /** Called with a queued batch the node refused when it was delivered. */
    onRejected?: (rejected: Rejected) => void;
    /** Milliseconds between delivery attempts while the node is away (default 1000). */
    retryMs?: number;
  };
}

/** A view, possibly answered from the offline cache. */
export type ViewResult<P> = View<P> & {
  /** Present (true) when answered offline: the last view seen plus pending writes. */
  stale?: true;
};

/** What `put` answers: the node's result, or `queued` ids when offline. */
export interface PutOutcome extends PutResult {
  /** Ids kept in the outbox, to be delivered when the node is back. */
  queued: string[];
}

/** View options (`GET /api/view/:id`). */
export interface ViewOptions {
  as_of?: number;
  schema?: string;
  schema_as_of?: number;
  /** One strategy for every property. */
  strategy?: string;
  /** A strategy per property. */
  strategies?: { [property: string]: string };
  /** Priority list for trusted-author / trusted-system. */
  trusted?: string[];
}

/** Changes feed filters (`GET /api/deltas`, SSE). */
export interface FeedOptions {
  since?: number;
  entity?: string[];
  creator?: string[];
  host?: string[];
  from?: number;
  to?: number;
  format?: Format;
  /** Stops the feed. */
  signal?: AbortSignal;
}

/** One delta of a feed, with this node's sequence number. */
export interface FeedItem {
  seq: number;
  delta: Delta;
}

/** Options of a WebSocket subscription. */
export interface SubscribeOptions {
  /** Start after this sequence number (default 0: the whole history). */
  since?: number;
  format?: Format;
  /** Items read ahead before the socket is paused (default 1024). */
  highWater?: number;
}

/** Options of a watch. */
export interface WatchOptions {
  schema?: string;
  strategy?: string;
  as_of?: number;
}

/** A property to set: `client.set(entity, {name: "Alice"})`. */
export type Properties = { [property: string]: Primitive | Ref };

/** A WebSocket handshake not done by then is started again. */
const OPEN_TIMEOUT_MS = 5000;
/** Live sockets ping this often; one silent for twice as long is reopened. */
const PING_MS = 15000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const backoff = (attempt: number) => Math.min(5000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);

/** A UUIDv7 (time-ordered): the ids this client gives deltas. */
export function uuidv7(now = Date.now()): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  const t = BigInt(now);
  for (let i = 0; i < 6; i++) b[i] = Number((t >> BigInt(8 * (5 - i))) & 0xffn);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * A client of one node.
 *
 * ```ts
 * const rz = new Rhizome({ url: "http://127.0.0.1:4000", creator: "alice" });
 * await rz.set("alice", { name: "Alice" });
 * const v = await rz.view<{ name?: string }>("alice");
 * for await (const { seq, delta } of rz.subscribe({ entities: ["alice"] })) { ... }
 * ```
 */
export class Rhizome {
  readonly url: string;
  private readonly opts: ClientOptions;
  private readonly fetchImpl: typeof fetch;
  private readonly outbox: Outbox | undefined;

  constructor(options: ClientOptions) {
    this.opts = options;
    this.url = options.url.replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    if (options.offline) {
      this.outbox = new Outbox(options.offline.store, (batch) => this.post(batch), {
        onRejected: options.offline.onRejected,
        retryMs: options.offline.retryMs ?? 1000,
      });
    }
  }

  // ------------------------------------------------------------- plumbing

  private token(): string | undefined {
    const t = this.opts.token;
    return typeof t === "function" ? t() : t;
  }

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = { accept: "application/json" };
    if (json) h["content-type"] = "application/json";
    const t = this.token();
    if (t) h.authorization = `Bearer ${t}`;
    return h;
  }

  /** Sends a request; a non-2xx answer throws a RhizomeError with the node's code. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, body);
    if (!res.ok) throw await errorFrom(res);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private async raw(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(this.opts.timeoutMs ?? 30_000);
    try {
      return await this.fetchImpl(this.url + path, {
        method,
        headers: this.headers(body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? anySignal([signal, timeout]) : timeout,
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new UnreachableError(`cannot reach ${this.url}: ${String((e as Error)?.message ?? e)}`, e);
    }
  }

  private post(deltas: AnyDelta[]): Promise<PutResult> {
    return this.request<PutResult>("POST", "/api/deltas", deltas);
  }

  /** The WebSocket URL, with `?token=` (sockets cannot carry headers). */
  private wsUrl(): string {
    const u = new URL(this.url + "/api/ws");
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    const t = this.token();
    if (t) u.searchParams.set("token", t);
    return u.toString();
  }

  private socket(): WebSocket {
    const WS = this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketLike }).WebSocket;
    if (!WS) {
      throw new RhizomeError(0, {
        code: "no_websocket",
        message: "no WebSocket implementation: pass options.WebSocket (Node 20: run with --experimental-websocket)",
      });
    }
    return new WS(this.wsUrl());
  }

  // --------------------------------------------------------------- deltas

  /**
   * A v1 delta setting properties of `entity`: one pointer filing it under
   * each property, one pointer per value. A UUIDv7 id, `Date.now()`.
   */
  delta(entity: string, properties: Properties, extra: Partial<Delta> = {}): Delta {
    const pointers: Delta["pointers"] = [];
    for (const [property, value] of Object.entries(properties)) {
      pointers.push({ localContext: "entity", target: entity, targetContext: property });
      pointers.push({ localContext: property, target: value });
    }
    const now = Date.now();
    return {
      id: uuidv7(now),
      timeCreated: now,
      host: this.opts.host ?? "ts-client",
      creator: this.opts.creator ?? "anonymous",
      pointers,
      ...extra,
    };
  }

  /**
   * Stores deltas (any format), all or nothing. Online: the node's
   * `{accepted, duplicates}` once durable. With `offline` set, the batch
   * first goes to the durable outbox; if the node cannot be reached it
   * stays there (`queued` lists its ids) and is delivered, in order, once
   * the node is back.
   */
  async put(deltas: AnyDelta | AnyDelta[]): Promise<PutOutcome> {
    const batch = Array.isArray(deltas) ? deltas : [deltas];
    if (!this.outbox) return { ...(await this.post(batch)), queued: [] };
    return this.outbox.put(batch);
  }

  /** Sets properties of an entity (one delta; see `delta`): `set("alice", {name: "Alice"})`. */
  async set(entity: string, properties: Properties): Promise<Delta> {
    const d = this.delta(entity, properties);
    await this.put(d);
    return d;
  }

  /** Stops the outbox's background delivery attempts (live feeds end with `break` / `return()`). */
  close(): void {
    this.outbox?.close();
  }

  /** Delivers the outbox now (offline mode); resolves when it is empty, throws UnreachableError if the node is away. */
  async flush(): Promise<void> {
    await this.outbox?.flush();
  }

  /** Deltas written offline and not yet delivered, oldest first. */
  async pending(): Promise<AnyDelta[]> {
    return this.outbox ? (await this.outbox.batches()).flat() : [];
  }

  /** One delta by id. */
  get(id: string): Promise<Delta> {
    return this.request("GET", `/api/deltas/${enc(id)}`);
  }

  /** Stores a negation of delta `id` (API.md §3). */
  negate(id: string, body: { creator?: string; reason?: string } = {}): Promise<Delta> {
    return this.request("POST", `/api/deltas/${enc(id)}/negate`, body);
  }

  /** A page of the changes feed. */
  changes(options: FeedOptions & { limit?: number } = {}): Promise<FeedPage> {
    return this.request("GET", `/api/deltas${feedQuery(options, options.limit)}`);
  }

  /** How many deltas the node stores. */
  async count(): Promise<number> {
    return (await this.request<{ count: number }>("GET", "/api/deltas/count")).count;
  }

  // ---------------------------------------------------------------- reads

  /**
   * An entity's view. With `offline` set, a view read from the node is
   * kept; when the node cannot be reached, the last one seen with the
   * pending writes applied is answered, marked `stale: true`.
   */
  async view<P = { [property: string]: Json }>(entity: string, options: ViewOptions = {}): Promise<ViewResult<P>> {
    const path = `/api/view/${enc(entity)}${viewQuery(options)}`;
    if (!this.outbox) return this.request("GET", path);
    const key = `view:${path}`;
    try {
      const v = await this.request<View<P>>("GET", path);
      await this.outbox.remember(key, v);
      return v;
    } catch (e) {
      if (!(e instanceof UnreachableError)) throw e;
      const seen = (await this.outbox.recall(key)) as View<{ [property: string]: Json }> | undefined;
      const pending = (await this.outbox.batches()).flat();
      const v = overlay(entity, seen, pending, options.as_of);
      if (!v) throw e;
      return { ...(v as View<P>), stale: true };
    }
  }

  /** An entity's hyperview. */
  hyperview(entity: string, options: { as_of?: number; schema?: string; format?: Format } = {}): Promise<Hyperview> {
    return this.request("GET", `/api/hyperview/${enc(entity)}${query(options)}`);
  }

  /** Views matching a JSON Logic filter, sorted by id. */
  async query<P = { [property: string]: Json }>(request: QueryRequest = {}): Promise<View<P>[]> {
    return (await this.request<{ views: View<P>[] }>("POST", "/api/query", request)).views;
  }

  /** Ids of entities with visible deltas. */
  async entities(options: { as_of?: number; limit?: number; after?: string } = {}): Promise<string[]> {
    return (await this.request<{ ids: string[] }>("GET", `/api/entities${query(options)}`)).ids;
  }

  /** A transaction's state. */
  transaction(id: string): Promise<TransactionStatus> {
    return this.request("GET", `/api/transactions/${enc(id)}`);
  }

  /** Registers (or replaces) a schema. */
  putSchema(schema: HyperSchema): Promise<HyperSchema> {
    return this.request("PUT", `/api/schemas/${enc(schema.name)}`, schema);
  }

  /** Names of the registered schemas. */
  async schemas(): Promise<string[]> {
    return (await this.request<{ schemas: string[] }>("GET", "/api/schemas")).schemas;
  }

  /** One schema. */
  schema(name: string): Promise<HyperSchema> {
    return this.request("GET", `/api/schemas/${enc(name)}`);
  }

  /** Registers an Ed25519 public key (raw, base64url) for a creator (admin; API.md §6). */
  registerKey(creator: string, publicKey: string): Promise<unknown> {
    return this.request("PUT", `/api/keys/${enc(creator)}`, { public_key: publicKey });
  }

  health(): Promise<Health> {
    return this.request("GET", "/api/health");
  }

  peers(): Promise<Peers> {
    return this.request("GET", "/api/peers");
  }

  // ----------------------------------------------------------------- live

  /**
   * Deltas matching `filter`, the backlog after `since` then live, over a
   * WebSocket. The iterator reconnects by itself after a dropped
   * connection or an overflow and resumes after the last sequence number
   * it delivered: no gap, no repeat. `break` closes it.
   */
  subscribe(filter: SubscriptionFilter = {}, options: SubscribeOptions = {}): AsyncIterableIterator<FeedItem> {
    let since = options.since ?? 0;
    const open = (send: (m: ClientMessage) => void) =>
      send({ op: "subscribe", id: 1, filter, since, ...(options.format ? { format: options.format } : {}) });
    return this.live<FeedItem>(open, options.highWater, (m, push, reconnect) => {
      if (m.type === "delta") {
        if (m.seq > since) {
          since = m.seq;
          push({ seq: m.seq, delta: m.delta });
        }
      } else if (m.type === "overflow") {
        since = Math.max(since, m.last_seq);
        reconnect();
      } else if (m.type === "error" && m.seq !== undefined && m.error.code === "not_expressible") {
        since = Math.max(since, m.seq);
      } else if (m.type === "error") {
        return new RhizomeError(400, m.error);
      }
      return undefined;
    });
  }

  /**
   * An entity's view now and on every change, over a WebSocket; after a
   * dropped connection it watches again and yields the view only if it
   * changed meanwhile.
   */
  watch<P = { [property: string]: Json }>(entity: string, options: WatchOptions = {}): AsyncIterableIterator<View<P>> {
    let last: string | undefined;
    const open = (send: (m: ClientMessage) => void) => send({ op: "watch", id: 1, entity, ...options });
    return this.live<View<P>>(open, 64, (m, push) => {
      if (m.type === "view") {
        const text = JSON.stringify(m.view);
        if (text !== last) {
          last = text;
          push(m.view as View<P>);
        }
      } else if (m.type === "error") {
        return new RhizomeError(400, m.error);
      }
      return undefined;
    });
  }

  /** A reconnecting WebSocket feeding a Channel. `handle` returns an error to end the feed with. */
  private live<T>(
    start: (send: (m: ClientMessage) => void) => void,
    highWater: number | undefined,
    handle: (m: ServerMessage, push: (t: T) => void, reconnect: () => void) => RhizomeError | undefined,
  ): AsyncIterableIterator<T> {
    let ws: WebSocket | undefined;
    let stopped = false;
    let paused = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const close = () => {
      const s = ws;
      ws = undefined;
      s?.close();
    };
    const chan: Channel<T> = new Channel<T>(
      () => {
        stopped = true;
        clearTimeout(timer);
        close();
      },
      () => {
        paused = true;
        close();
      },
      () => {
        paused = false;
        connect();
      },
      highWater,
    );
    const retry = () => {
      if (stopped || paused) return;
      clearTimeout(timer);
      timer = setTimeout(connect, backoff(attempt++));
    };
    const connect = () => {
      if (stopped || paused || ws) return;
      let s: WebSocket;
      try {
        s = this.socket();
      } catch (e) {
        chan.fail(e);
        return;
      }
      ws = s;
      // A handshake that does not complete, or a socket that goes silent
      // (a half-open connection), is given up and opened again.
      let heard = Date.now();
      const giveUp = () => {
        if (ws !== s) return;
        ws = undefined;
        clearInterval(alive);
        s.close();
        retry();
      };
      const opening = setTimeout(giveUp, OPEN_TIMEOUT_MS);
      const alive = setInterval(() => {
        if (Date.now() - heard > 2 * PING_MS) giveUp();
        else if (s.readyState === 1) s.send(JSON.stringify({ op: "ping" }));
      }, PING_MS);
      (alive as { unref?: () => void }).unref?.();
      (opening as { unref?: () => void }).unref?.();
      s.onopen = () => {
        clearTimeout(opening);
        heard = Date.now();
        start((m) => s.send(JSON.stringify(m)));
      };
      s.onmessage = (e: MessageEvent) => {
        if (ws !== s) return;
        heard = Date.now();
        attempt = 0;
        let m: ServerMessage;
        try {
          m = JSON.parse(String(e.data)) as ServerMessage;
        } catch {
          return;
        }
        const err = handle(m, (t) => chan.push(t), () => {
          close();
          connect();
        });
        if (err) chan.fail(err);
      };
      s.onclose = () => {
        clearTimeout(opening);
        clearInterval(alive);
        if (ws === s) {
          ws = undefined;
          retry();
        }
      };
      s.onerror = () => {};
    };
    connect();
    return chan;
  }

  /**
   * The changes feed over server-sent events, as an async iterator: the
   * backlog after `since`, then live. It reconnects by itself (after a
   * network error, a node restart or an overflow) from the last sequence
   * number it delivered. Uses `fetch` (so it works in Node and sends the
   * token as a header); stop it with `break` or `signal`.
   */
  async *feed(options: FeedOptions = {}): AsyncGenerator<FeedItem> {
    let since = options.since ?? 0;
    let attempt = 0;
    while (!options.signal?.aborted) {
      const abort = new AbortController();
      const stop = () => abort.abort();
      options.signal?.addEventListener("abort", stop);
      try {
        const res = await this.fetchImpl(`${this.url}/api/deltas${feedQuery({ ...options, since }, undefined, true)}`, {
          headers: { ...this.headers(false), accept: "text/event-stream" },
          signal: abort.signal,
        });
        if (!res.ok) {
          const err = await errorFrom(res);
          if (res.status < 500) throw err;
        } else if (res.body) {
          for await (const rec of sseRecords(res.body)) {
            attempt = 0;
            const seq = Number(rec.id);
            if (rec.event === "delta" && seq > since) {
              since = seq;
              yield { seq, delta: JSON.parse(rec.data) as Delta };
            } else if (rec.event === "overflow" || rec.event === "error") {
              if (Number.isFinite(seq)) since = Math.max(since, seq);
              if (rec.event === "overflow") break;
            }
          }
        }
      } catch (e) {
        if (e instanceof RhizomeError || options.signal?.aborted) throw e;
      } finally {
        options.signal?.removeEventListener("abort", stop);
        abort.abort();
      }
      if (!options.signal?.aborted) await sleep(backoff(attempt++));
    }
  }
}

interface SseRecord {
  id: string;
  event: string;
  data: string;
}

/** Parses a `text/event-stream` body into records. */
async function* sseRecords(body: ReadableStream<Uint8Array>): AsyncGenerator<SseRecord> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let rec: SseRecord = { id: "", event: "message", data: "" };
  let hasData = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
        if (line === "") {
          if (hasData) yield rec;
          rec = { id: rec.id, event: "message", data: "" };
          hasData = false;
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") rec.id = val;
          else if (field === "event") rec.event = val;
          else if (field === "data") {
            rec.data = hasData ? `${rec.data}\n${val}` : val;
            hasData = true;
          }
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function anySignal(signals: AbortSignal[]): AbortSignal {
  const c = new AbortController();
  for (const s of signals) {
    if (s.aborted) c.abort(s.reason);
    else s.addEventListener("abort", () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}

const enc = encodeURIComponent;

function query(params: { [k: string]: string | number | undefined }): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

function viewQuery(o: ViewOptions): string {
  return query({
    as_of: o.as_of,
    schema: o.schema,
    schema_as_of: o.schema_as_of,
    strategy: o.strategy,
    strategies: o.strategies ? Object.entries(o.strategies).map(([p, s]) => `${p}:${s}`).join(",") : undefined,
    trusted: o.trusted?.join(","),
  });
}

function feedQuery(o: FeedOptions, limit?: number, sse = false): string {
  return query({
    feed: sse ? "sse" : undefined,
    since: o.since,
    limit,
    entity: o.entity?.join(","),
    creator: o.creator?.join(","),
    host: o.host?.join(","),
    from: o.from,
    to: o.to,
    format: o.format,
  });
}
