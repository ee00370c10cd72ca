// The canonical form of a delta (docs/canonical-form.md) and its Ed25519
// signature with WebCrypto, as docs/security.md shows it. Loaded into test
// pages by tests/browser/security.mjs.
const enc = new TextEncoder();
function canonical(d) {           // d: a v1 delta (signature ignored)
  const out = [];
  const u32 = (n) => out.push((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  const str = (s) => { const b = enc.encode(s); u32(b.length); out.push(...b); };
  const u64 = (n) => { const v = new DataView(new ArrayBuffer(8)); v.setBigUint64(0, BigInt(n)); out.push(...new Uint8Array(v.buffer)); };
  out.push(...enc.encode('rhizome-delta-v1'));
  str(d.id); u64(d.timeCreated); str(d.host); str(d.creator);
  const cmp = (a, b) => { const x = enc.encode(a), y = enc.encode(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length; };
  const ps = d.pointers.map((p, i) => [p, i]).sort((a, b) => cmp(a[0].localContext, b[0].localContext) || a[1] - b[1]);
  u32(ps.length);
  for (const [p] of ps) {
    str(p.localContext);
    const t = p.target, ctx = p.targetContext ?? null;
    if (typeof t === 'object' && t !== null) { out.push(1); str(t.id); }
    else if (ctx !== null) { out.push(2); str(t); str(ctx); }
    else if (typeof t === 'string') { out.push(3); str(t); }
    else if (typeof t === 'number' && Number.isInteger(t) && t >= -(2 ** 63) && t < 2 ** 63) {
      out.push(4); const v = new DataView(new ArrayBuffer(8)); v.setBigInt64(0, BigInt(t)); out.push(...new Uint8Array(v.buffer)); }
    else if (typeof t === 'number') { out.push(5); const v = new DataView(new ArrayBuffer(8)); v.setFloat64(0, t); out.push(...new Uint8Array(v.buffer)); }
    else if (t === false) out.push(6); else if (t === true) out.push(7); else out.push(8);
  }
  return new Uint8Array(out);
}
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
