// The canonical form of a delta (docs/canonical-form.md) and Ed25519
// signatures over it with WebCrypto (API.md §6).

import type { Delta, Pointer } from "./wire.js";

const utf8 = new TextEncoder();
const DOMAIN = utf8.encode("rhizome-delta-v1");

/** Byte-wise comparison of two byte strings (a proper prefix first). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

/**
 * The canonical bytes of a v1 delta: what its signature signs and its
 * content hash hashes. The `signature` field is not part of them.
 * Integers beyond 2^53 must be given as `bigint` targets to stay exact.
 */
export function canonicalBytes(delta: Delta): Uint8Array {
  const parts: Uint8Array[] = [];
  const fixed = (n: number, write: (v: DataView) => void) => {
    const b = new Uint8Array(n);
    write(new DataView(b.buffer));
    parts.push(b);
  };
  const u32 = (n: number) => fixed(4, (v) => v.setUint32(0, n));
  const str = (s: string) => {
    const b = utf8.encode(s);
    u32(b.length);
    parts.push(b);
  };
  parts.push(DOMAIN);
  str(delta.id);
  fixed(8, (v) => v.setBigUint64(0, BigInt(delta.timeCreated)));
  str(delta.host);
  str(delta.creator);
  const pointers = delta.pointers
    .map((p: Pointer, i) => ({ p, i, role: utf8.encode(p.localContext) }))
    .sort((a, b) => compareBytes(a.role, b.role) || a.i - b.i);
  u32(pointers.length);
  for (const { p } of pointers) {
    str(p.localContext);
    const t: unknown = p.target;
    if (p.targetContext != null) {
      parts.push(Uint8Array.of(0x02));
      str(t as string);
      str(p.targetContext);
    } else if (t !== null && typeof t === "object") {
      parts.push(Uint8Array.of(0x01));
      str((t as { id: string }).id);
    } else if (typeof t === "string") {
      parts.push(Uint8Array.of(0x03));
      str(t);
    } else if (typeof t === "bigint") {
      parts.push(Uint8Array.of(0x04));
      fixed(8, (v) => v.setBigInt64(0, t));
    } else if (typeof t === "number") {
      if (Number.isInteger(t) && t >= -(2 ** 63) && t < 2 ** 63) {
        parts.push(Uint8Array.of(0x04));
        fixed(8, (v) => v.setBigInt64(0, BigInt(t)));
      } else {
        parts.push(Uint8Array.of(0x05));
        fixed(8, (v) => v.setFloat64(0, t));
      }
    } else if (typeof t === "boolean") {
      parts.push(Uint8Array.of(t ? 0x07 : 0x06));
    } else {
      parts.push(Uint8Array.of(0x08));
    }
  }
  const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of parts) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** Base64url without padding. */
export function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes base64url (padding optional). */
export function fromBase64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/**
 * An Ed25519 key pair that signs deltas (WebCrypto: Node 20, current
 * browsers). Register its `publicKey` for a creator with
 * `client.registerKey(creator, signer.publicKey)`.
 */
export class Signer {
  private constructor(
    private readonly privateKey: CryptoKey,
    /** The public key, raw 32 bytes, base64url (what `PUT /api/keys/:creator` takes). */
    readonly publicKey: string,
  ) {}

  /** A new random key pair. */
  static async generate(): Promise<Signer> {
    const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    return Signer.fromKeyPair(pair);
  }

  /** A signer from a WebCrypto key pair. */
  static async fromKeyPair(pair: CryptoKeyPair): Promise<Signer> {
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    return new Signer(pair.privateKey, base64url(raw));
  }

  /** The delta with its `signature` (over its canonical form) set. */
  async sign<D extends Delta>(delta: D): Promise<D> {
    const { signature: _old, ...rest } = delta;
    const sig = await crypto.subtle.sign(
      { name: "Ed25519" },
      this.privateKey,
      canonicalBytes(rest as Delta) as BufferSource,
    );
    return { ...rest, signature: base64url(new Uint8Array(sig)) } as D;
  }
}

/** Whether `delta.signature` is a valid signature by `publicKey` (raw, base64url). */
export async function verifyDelta(delta: Delta, publicKey: string): Promise<boolean> {
  if (!delta.signature) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    fromBase64url(publicKey) as BufferSource,
    { name: "Ed25519" },
    false,
    ["verify"],
  );
  return crypto.subtle.verify(
    { name: "Ed25519" },
    key,
    fromBase64url(delta.signature) as BufferSource,
    canonicalBytes(delta) as BufferSource,
  );
}
