// Node-only helpers: a file-backed offline store.

import { mkdir, readFile, rename, writeFile, open } from "node:fs/promises";
import { dirname } from "node:path";
import type { OfflineStore } from "./store.js";

/**
 * A store in one JSON file, rewritten atomically (write, fsync, rename) on
 * every change: the outbox survives the process being killed.
 */
export function fileStore(path: string): OfflineStore {
  let data: Promise<Record<string, unknown>> | undefined;
  let writing: Promise<void> = Promise.resolve();
  const load = () =>
    (data ??= readFile(path, "utf8").then(
      (t) => JSON.parse(t) as Record<string, unknown>,
      (e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return {} as Record<string, unknown>;
        throw e;
      },
    ));
  return {
    async get(key) {
      const d = await load();
      const v = d[key];
      return v === undefined ? undefined : structuredClone(v);
    },
    async set(key, value) {
      const d = await load();
      d[key] = structuredClone(value);
      const text = JSON.stringify(d);
      writing = writing.then(async () => {
        await mkdir(dirname(path), { recursive: true });
        const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
        await writeFile(tmp, text);
        const f = await open(tmp, "r");
        try {
          await f.sync();
        } finally {
          await f.close();
        }
        await rename(tmp, path);
      });
      await writing;
    },
  };
}

export * from "./index.js";
