// Durable key-value stores for the offline outbox and the view cache:
// memory (tests, nothing survives), IndexedDB (browsers). The Node file
// store is in `node.ts`, so browsers never load `node:fs`.

/** Where a client keeps its outbox and the views it has seen. Values are JSON. */
export interface OfflineStore {
  get(key: string): Promise<unknown>;
  /** Durable once the promise resolves. */
  set(key: string, value: unknown): Promise<void>;
}

/** A store in memory: survives nothing (tests, or reads-only caching). */
export function memoryStore(): OfflineStore {
  const map = new Map<string, string>();
  return {
    async get(key) {
      const v = map.get(key);
      return v === undefined ? undefined : JSON.parse(v);
    },
    async set(key, value) {
      map.set(key, JSON.stringify(value));
    },
  };
}

/** A store in the browser's IndexedDB (database `name`, one object store). */
export function indexedDbStore(name = "rhizome"): OfflineStore {
  let db: Promise<IDBDatabase> | undefined;
  const open = () =>
    (db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore("kv");
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    }));
  const run = async <T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>) => {
    const d = await open();
    return new Promise<T>((resolve, reject) => {
      const tx = d.transaction("kv", mode, { durability: "strict" });
      const req = f(tx.objectStore("kv"));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  };
  return {
    get: (key) => run("readonly", (s) => s.get(key)),
    set: async (key, value) => {
      await run("readwrite", (s) => s.put(value, key));
    },
  };
}
