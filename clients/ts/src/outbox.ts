// The offline outbox: batches written while the node is unreachable, kept
// in a durable store and delivered once, in order, when it is back. Delta
// ids make a retry harmless: a batch the node stored before its answer was
// lost comes back as `duplicates`.

import { RhizomeError, UnreachableError } from "./errors.js";
import type { OfflineStore } from "./store.js";
import type { AnyDelta, Delta, Json, PutResult, View } from "./wire.js";

/** A queued batch the node refused when it was delivered (invalid, conflict, forbidden). */
export interface Rejected {
  deltas: AnyDelta[];
  error: RhizomeError;
}

interface Batch {
  key: string;
  deltas: AnyDelta[];
}

const OUTBOX = "outbox";

export class Outbox {
  private lock: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private results = new Map<string, PutResult>();
  private failures = new Map<string, RhizomeError>();
  private seq = 0;
  private waiting = new Set<string>();
  private closed = false;

  constructor(
    private readonly store: OfflineStore,
    private readonly send: (deltas: AnyDelta[]) => Promise<PutResult>,
    private readonly options: { onRejected?: ((r: Rejected) => void) | undefined; retryMs: number },
  ) {
    const g = globalThis as { addEventListener?: (t: string, f: () => void) => void };
    g.addEventListener?.("online", () => void this.flush().catch(() => {}));
    // Batches left by an earlier session (a reload, a restart) go out now.
    setTimeout(() => void (this.closed ? undefined : this.flush().catch(() => {})), 0);
  }

  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.lock.then(f, f);
    this.lock = run.catch(() => {});
    return run;
  }

  /** The queued batches, oldest first. */
  async batches(): Promise<AnyDelta[][]> {
    return ((await this.store.get(OUTBOX)) as Batch[] | undefined)?.map((b) => b.deltas) ?? [];
  }

  /** Queues `deltas` durably, then tries to deliver everything queued. */
  async put(deltas: AnyDelta[]): Promise<PutResult & { queued: string[] }> {
    const key = `${Date.now()}-${this.seq++}-${Math.random().toString(36).slice(2)}`;
    await this.exclusive(async () => {
      const queue = ((await this.store.get(OUTBOX)) as Batch[] | undefined) ?? [];
      queue.push({ key, deltas });
      await this.store.set(OUTBOX, queue);
    });
    this.waiting.add(key);
    try {
      await this.flush();
    } catch (e) {
      if (!(e instanceof UnreachableError) && !(e instanceof RhizomeError && e.status >= 500)) throw e;
    } finally {
      this.waiting.delete(key);
    }
    const failure = this.failures.get(key);
    if (failure) {
      this.failures.delete(key);
      throw failure;
    }
    const result = this.results.get(key);
    if (result) {
      this.results.delete(key);
      return { ...result, queued: [] };
    }
    return { accepted: [], duplicates: [], queued: deltas.map((d) => d.id) };
  }

  /**
   * Delivers the queued batches in order. Resolves once the outbox is
   * empty; throws UnreachableError (and retries later by itself) if the
   * node cannot be reached.
   */
  flush(): Promise<void> {
    return this.exclusive(async () => {
      clearTimeout(this.timer);
      for (;;) {
        const queue = ((await this.store.get(OUTBOX)) as Batch[] | undefined) ?? [];
        const batch = queue[0];
        if (!batch) return;
        try {
          const result = await this.send(batch.deltas);
          if (this.waiting.has(batch.key)) this.results.set(batch.key, result);
        } catch (e) {
          const refused = e instanceof RhizomeError && e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429;
          if (!refused) {
            if (!this.closed) this.timer = setTimeout(() => void this.flush().catch(() => {}), this.options.retryMs);
            (this.timer as { unref?: () => void }).unref?.();
            throw e;
          }
          if (this.waiting.has(batch.key)) this.failures.set(batch.key, e);
          this.options.onRejected?.({ deltas: batch.deltas, error: e });
        }
        queue.shift();
        await this.store.set(OUTBOX, queue);
      }
    });
  }

  /** Stops retrying in the background. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** Keeps a view read from the node. */
  remember(key: string, view: unknown): Promise<void> {
    return this.store.set(key, view);
  }

  /** The view last kept under `key`. */
  recall(key: string): Promise<unknown> {
    return this.store.get(key);
  }
}

function isV1(d: AnyDelta): d is Delta {
  return Array.isArray(d.pointers) && "timeCreated" in d && "creator" in d;
}

/**
 * The view `seen` with the pending deltas that file under `entity` applied
 * on top (last write wins, in the order written): what an offline read
 * answers. `undefined` when there is neither.
 */
export function overlay(
  entity: string,
  seen: View<{ [p: string]: Json }> | undefined,
  pending: AnyDelta[],
  asOf?: number,
): View<{ [p: string]: Json }> | undefined {
  const properties: { [p: string]: Json } = { ...(seen?.properties ?? {}) };
  let touched = seen !== undefined;
  for (const d of pending) {
    if (!isV1(d) || (asOf !== undefined && d.timeCreated > asOf)) continue;
    for (const p of d.pointers) {
      if (p.target !== entity || typeof p.targetContext !== "string") continue;
      const property = p.targetContext;
      const value = d.pointers.find(
        (q) => q.localContext === property && !(q.target === entity && q.targetContext != null),
      );
      if (value) {
        properties[property] = value.target as Json;
        touched = true;
      }
    }
  }
  return touched ? { id: entity, properties } : undefined;
}
