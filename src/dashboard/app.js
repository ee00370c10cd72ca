// The Rhizome dashboard: plain JavaScript, no build step, nothing loaded
// from anywhere but the node itself. Reads the node's public API only.

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'rhizome-token';
let token = localStorage.getItem(TOKEN_KEY) || '';

// ------------------------------------------------------------ API access

/** Asks for a token (a dialog); resolves once the user answered. */
function askToken() {
  return new Promise((resolve) => {
    const dialog = $('token-dialog');
    $('token-input').value = token;
    dialog.onclose = () => {
      if (dialog.returnValue === 'save') {
        token = $('token-input').value.trim();
        localStorage.setItem(TOKEN_KEY, token);
      }
      resolve();
    };
    if (!dialog.open) dialog.showModal();
  });
}

/** GET a JSON (or text) answer; a 401 asks for a token and tries again. */
async function api(path, { text = false } = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const res = await fetch(path, { headers });
    if (res.status === 401 && attempt < 3) {
      await askToken();
      continue;
    }
    if (!res.ok) {
      let message = `${res.status}`;
      try {
        const e = (await res.json()).error;
        message = `${e.code}: ${e.message}`;
      } catch { /* not JSON */ }
      const err = new Error(message);
      err.status = res.status;
      throw err;
    }
    return text ? res.text() : res.json();
  }
}

const withToken = (url) => (token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url);
const fmtTime = (ms) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

// ----------------------------------------------------------- live deltas

const MAX_DELTAS = 200;
let deltaCount = 0;

/** What a delta says, in one line: entity.property = value. */
function summary(d) {
  const filed = d.pointers.filter((p) => p.targetContext != null);
  if (filed.length === 0) return esc(d.pointers.map((p) => p.localContext).join(', '));
  return filed.map((p) => {
    const v = d.pointers.find((q) => q.localContext === p.targetContext && q !== p);
    const value = v === undefined ? '' : ` = ${esc(JSON.stringify(v.target))}`;
    return `<a data-entity="${esc(p.target)}">${esc(p.target)}</a>.${esc(p.targetContext)}${value}`;
  }).join('; ');
}

function showDelta(seq, d) {
  const li = document.createElement('li');
  li.className = 'fresh';
  li.dataset.id = d.id;
  li.innerHTML = `<span class="seq">${seq}</span> ${summary(d)}<br><span class="muted">${esc(d.id)} · ${esc(d.creator)}@${esc(d.host)} · ${fmtTime(d.timeCreated)}</span>`;
  const list = $('deltas');
  list.prepend(li);
  while (list.children.length > MAX_DELTAS) list.lastChild.remove();
  $('delta-count').textContent = `(${++deltaCount} shown since load)`;
}

async function startFeed() {
  // The last 50 deltas, then live (EventSource resumes by itself).
  const end = await api('/api/deltas?since=18446744073709551615&limit=1');
  const since = Math.max(0, end.last_seq - 50);
  const es = new EventSource(withToken(`/api/deltas?feed=sse&since=${since}`));
  es.onopen = () => { $('live-state').textContent = 'live'; $('live-state').className = 'pill on'; };
  es.onerror = () => { $('live-state').textContent = 'reconnecting…'; $('live-state').className = 'pill off'; };
  es.addEventListener('delta', (e) => {
    showDelta(Number(e.lastEventId), JSON.parse(e.data));
    scheduleEntityRefresh(JSON.parse(e.data));
  });
}

$('deltas').addEventListener('click', (e) => {
  const entity = e.target.dataset && e.target.dataset.entity;
  if (entity) {
    $('entity-id').value = entity;
    showEntity(entity, true);
  }
});

// -------------------------------------------------------- entity browser

let times = []; // distinct timeCreated of the entity's deltas, sorted
let current = '';

function entityQuery(asOf) {
  const q = new URLSearchParams();
  if ($('entity-schema').value) q.set('schema', $('entity-schema').value);
  if ($('entity-strategy').value) q.set('strategy', $('entity-strategy').value);
  if (asOf !== undefined) q.set('as_of', String(asOf));
  const s = q.toString();
  return s ? `?${s}` : '';
}

function sliderAsOf() {
  const i = Number($('as-of').value);
  return i >= times.length ? undefined : times[i];
}

function renderHyperview(hv) {
  const parts = [];
  for (const [property, deltas] of Object.entries(hv.properties)) {
    parts.push(`<h4>${esc(property)}</h4>`);
    for (const d of deltas) {
      const v = d.pointers.find((p) => p.localContext === property);
      const value = v ? JSON.stringify(v.target) : '';
      parts.push(`<div>${fmtTime(d.timeCreated)} <b>${esc(value)}</b> <span class="muted">${esc(d.creator)} · ${esc(d.id)}</span></div>`);
    }
  }
  $('hyperview').innerHTML = parts.join('') || '<span class="muted">no deltas</span>';
}

/** Shows the entity's view and hyperview at the slider's time; `reset` rebuilds the slider. */
async function showEntity(entity, reset) {
  current = entity;
  if (reset) {
    try {
      const all = await api(`/api/hyperview/${encodeURIComponent(entity)}`);
      const set = new Set();
      for (const deltas of Object.values(all.properties)) for (const d of deltas) set.add(d.timeCreated);
      times = [...set].sort((a, b) => a - b);
    } catch {
      times = [];
    }
    $('as-of').max = String(times.length);
    $('as-of').value = String(times.length);
  }
  const asOf = sliderAsOf();
  $('as-of-label').textContent = asOf === undefined ? 'now' : fmtTime(asOf);
  const path = encodeURIComponent(entity);
  try {
    const view = await api(`/api/view/${path}${entityQuery(asOf)}`);
    $('view').textContent = JSON.stringify(view, null, 2);
  } catch (e) {
    $('view').textContent = e.message;
  }
  try {
    const q = new URLSearchParams();
    if ($('entity-schema').value) q.set('schema', $('entity-schema').value);
    if (asOf !== undefined) q.set('as_of', String(asOf));
    renderHyperview(await api(`/api/hyperview/${path}${q.toString() ? `?${q}` : ''}`));
  } catch (e) {
    $('hyperview').textContent = e.message;
  }
}

let refreshTimer;
function scheduleEntityRefresh(d) {
  if (!current || !d.pointers.some((p) => p.target === current || (p.target && p.target.id === current))) return;
  // Follow new deltas only while looking at "now".
  if (sliderAsOf() !== undefined) return;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => showEntity(current, true), 100);
}

$('entity-form').addEventListener('submit', (e) => {
  e.preventDefault();
  showEntity($('entity-id').value.trim(), true);
});
$('as-of').addEventListener('input', () => current && showEntity(current, false));
$('entity-schema').addEventListener('change', () => current && showEntity(current, false));
$('entity-strategy').addEventListener('change', () => current && showEntity(current, false));

// ---------------------------------------------------------------- schemas

async function loadSchemas() {
  const { schemas } = await api('/api/schemas');
  const select = $('entity-schema');
  const chosen = select.value;
  select.innerHTML = '<option value="">no schema</option>' + schemas.map((s) => `<option>${esc(s)}</option>`).join('');
  select.value = schemas.includes(chosen) ? chosen : '';
  $('schemas').innerHTML = schemas.map((s) => `<li><a data-schema="${esc(s)}">${esc(s)}</a></li>`).join('') || '<li class="muted">none registered</li>';
}

$('schemas').addEventListener('click', async (e) => {
  const name = e.target.dataset && e.target.dataset.schema;
  if (!name) return;
  const body = $('schema-body');
  body.hidden = false;
  body.textContent = JSON.stringify(await api(`/api/schemas/${encodeURIComponent(name)}`), null, 2);
});

// ------------------------------------------------------------------ peers

async function loadPeers() {
  const p = await api('/api/peers');
  $('self').textContent = `sync ${p.sync || 'on'} · node ${p.self.node_id.slice(0, 16)}… · ${p.self.addrs.join(', ') || 'no address'}`;
  $('peers').querySelector('tbody').innerHTML = p.peers.map((x) => `<tr><td title="${esc(x.node_id)}">${esc(x.node_id.slice(0, 12))}…</td><td>${esc(x.status)}</td><td>${x.deltas_sent}</td><td>${x.deltas_received}</td><td>${x.last_seen ? fmtTime(x.last_seen) : '–'}</td></tr>`).join('')
    || '<tr><td colspan="5" class="muted">no peers</td></tr>';
}

// ---------------------------------------------------------------- metrics

const WINDOW_MS = 5 * 60 * 1000;
const samples = []; // {t, values: Map(name -> summed value)}

/** Prometheus text → metric name → sum over its label sets. */
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) out.set(m[1], (out.get(m[1]) || 0) + v);
  }
  return out;
}

function series(f) {
  const pts = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const y = f(a.values, b.values, (b.t - a.t) / 1000, b);
    if (y !== undefined && Number.isFinite(y)) pts.push({ t: b.t, y });
  }
  return pts;
}

function draw(canvas, lines) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width;
  const h = canvas.height;
  const pad = { l: 38, r: 6, t: 6, b: 16 };
  ctx.clearRect(0, 0, w, h);
  const now = Date.now();
  const max = Math.max(1e-9, ...lines.flatMap((l) => l.pts.map((p) => p.y)));
  const top = niceCeil(max);
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = '#6b7385';
  ctx.strokeStyle = '#e2e5eb';
  for (let i = 0; i <= 2; i++) {
    const y = pad.t + ((h - pad.t - pad.b) * i) / 2;
    ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); ctx.stroke();
    ctx.fillText(fmtNum(top * (1 - i / 2)), 2, y + 3);
  }
  ctx.fillText('-5 min', pad.l, h - 3);
  ctx.fillText('now', w - pad.r - 18, h - 3);
  for (const { pts, color } of lines) {
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    pts.forEach((p, i) => {
      const x = pad.l + ((w - pad.l - pad.r) * (p.t - (now - WINDOW_MS))) / WINDOW_MS;
      const y = pad.t + (h - pad.t - pad.b) * (1 - p.y / top);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtNum(v) {
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)}k`;
  if (v >= 10 || v === 0) return v.toFixed(0);
  return v.toPrecision(2);
}

const diff = (name) => (a, b, dt) => (b.has(name) && a.has(name) ? (b.get(name) - a.get(name)) / dt : undefined);

async function pollMetrics() {
  const text = await api('/metrics', { text: true });
  const values = parseMetrics(text);
  const t = Date.now();
  samples.push({ t, values });
  while (samples.length && samples[0].t < t - WINDOW_MS) samples.shift();
  const latency = (a, b) => {
    const n = (b.get('rhizome_http_request_duration_seconds_count') || 0) - (a.get('rhizome_http_request_duration_seconds_count') || 0);
    const s = (b.get('rhizome_http_request_duration_seconds_sum') || 0) - (a.get('rhizome_http_request_duration_seconds_sum') || 0);
    return n > 0 ? (1000 * s) / n : 0;
  };
  const gauge = (name) => (_a, b) => b.get(name) || 0;
  draw($('chart-ingest'), [{ pts: series(diff('rhizome_deltas_stored_total')), color: '#2f7d5b' }]);
  draw($('chart-latency'), [{ pts: series(latency), color: '#3a6ea5' }]);
  draw($('chart-connections'), [
    { pts: series(gauge('rhizome_http_connections')), color: '#3a6ea5' },
    { pts: series(gauge('rhizome_realtime_ws_connections')), color: '#2f7d5b' },
    { pts: series(gauge('rhizome_realtime_sse_streams')), color: '#b5651d' },
  ]);
  $('node-stats').textContent = `${values.get('rhizome_deltas_stored_total') ?? '?'} stored · seq ${values.get('rhizome_last_seq') ?? '?'} · up ${Math.round(values.get('rhizome_uptime_seconds') || 0)} s`;
}

// ------------------------------------------------------------------ start

const every = (ms, f) => {
  const run = () => f().catch((e) => console.warn(`dashboard: ${e.message}`)).finally(() => setTimeout(run, ms));
  run();
};

$('token-button').addEventListener('click', () => askToken().then(() => location.reload()));

(async () => {
  const health = await api('/api/health');
  $('node-name').textContent = `node ${health.node}`;
  await startFeed();
  every(2000, pollMetrics);
  every(5000, loadSchemas);
  every(3000, loadPeers);
  window.dashboardReady = true;
})().catch((e) => {
  $('live-state').textContent = e.message;
  $('live-state').className = 'pill off';
});
