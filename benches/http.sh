#!/usr/bin/env bash
# HTTP load figures with wrk against a release node on a free port:
#   1. GET /api/view/:id            at 50 connections
#   2. POST /api/deltas, one delta  at 50 connections (unique ids from Lua)
#   3. POST /api/deltas, 1,000 deltas per request
# Usage: benches/http.sh [DURATION (default 10s)] [STORAGE (disk|memory, default disk)] [AUTH (off|jwt, default off)]
# With AUTH=jwt the node requires HS256 tokens and every request carries one
# (principal "wrk", scopes read and write): compare with the same run off.
# Figures on a shared machine are indicative; see benches/README.md.
set -euo pipefail
DURATION=${1:-10s}
STORAGE=${2:-disk}
AUTH=${3:-off}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
NODE_PID=
cleanup() {
    if [ -n "$NODE_PID" ]; then kill "$NODE_PID" 2>/dev/null || true; wait "$NODE_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    apt-get install -y wrk >/dev/null
fi

(cd "$ROOT" && cargo build --release --quiet)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/rhizome

AUTH_HEADER=""
if [ "$AUTH" = jwt ]; then
    export RHIZOME_AUTH=jwt RHIZOME_JWT_SECRET="benchmark secret of at least 32 bytes"
    TOKEN=$(python3 - <<'PY'
import base64, hashlib, hmac, json, os, time
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
head = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b(json.dumps({"sub": "wrk", "scope": "read write", "exp": int(time.time()) + 86400}).encode())
mac = hmac.new(os.environ["RHIZOME_JWT_SECRET"].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{b(mac)}")
PY
)
    AUTH_HEADER="Bearer $TOKEN"
fi
export RHIZOME_BENCH_AUTH="$AUTH_HEADER"
RHIZOME_HTTP_PORT=0 RHIZOME_STORAGE=$STORAGE RHIZOME_DATA_DIR=$WORK/data RHIZOME_LOG=warn \
    "$BIN" start >"$WORK/out" 2>"$WORK/err" &
NODE_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(grep -o 'http=[^ ]*' "$WORK/out" | cut -d= -f2)
URL=http://$ADDR
echo "node at $URL ($STORAGE storage, auth $AUTH), wrk for $DURATION per run"

# A movie entity with 20 properties, 5 values each, to view.
python3 - "$URL" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
deltas = [{"id": f"seed-{p}-{v}", "timeCreated": 1_700_000_000_000 + p * 10 + v, "host": "bench",
           "creator": "wrk", "pointers": [
               {"localContext": "movie", "target": "movie-1", "targetContext": f"prop{p}"},
               {"localContext": f"prop{p}", "target": v}]} for p in range(20) for v in range(5)]
import os
headers = {"content-type": "application/json"}
if os.environ.get("RHIZOME_BENCH_AUTH"):
    headers["authorization"] = os.environ["RHIZOME_BENCH_AUTH"]
req = urllib.request.Request(url + "/api/deltas", json.dumps(deltas).encode(), headers)
urllib.request.urlopen(req).read()
PY

cat >"$WORK/single.lua" <<'LUA'
-- One delta per request, ids unique per thread and request.
local counter = 0
local thread_id = 0
local threads = {}
function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end
function init(args)
    thread_id = tid
end
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
if os.getenv("RHIZOME_BENCH_AUTH") ~= "" then
    wrk.headers["authorization"] = os.getenv("RHIZOME_BENCH_AUTH")
end
function request()
    counter = counter + 1
    local id = string.format("w%d-%d", thread_id, counter)
    local body = string.format(
        '{"id":"%s","timeCreated":1700000000000,"host":"bench","creator":"wrk",' ..
        '"pointers":[{"localContext":"entity","target":"e%d","targetContext":"n"},' ..
        '{"localContext":"n","target":%d}]}', id, counter % 1000, counter)
    return wrk.format(nil, "/api/deltas", nil, body)
end
LUA

cat >"$WORK/batch.lua" <<'LUA'
-- 1,000 deltas per request, ids unique per thread and request.
local counter = 0
local thread_id = 0
local threads = {}
function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end
function init(args)
    thread_id = tid
end
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
if os.getenv("RHIZOME_BENCH_AUTH") ~= "" then
    wrk.headers["authorization"] = os.getenv("RHIZOME_BENCH_AUTH")
end
function request()
    counter = counter + 1
    local parts = {}
    for i = 1, 1000 do
        parts[i] = string.format(
            '{"id":"b%d-%d-%d","timeCreated":1700000000000,"host":"bench","creator":"wrk",' ..
            '"pointers":[{"localContext":"entity","target":"e%d","targetContext":"n"},' ..
            '{"localContext":"n","target":%d}]}', thread_id, counter, i, i % 1000, i)
    end
    return wrk.format(nil, "/api/deltas", nil, "[" .. table.concat(parts, ",") .. "]")
end
function done(summary, latency, requests)
    io.write(string.format("batched: %.0f deltas/s (%d requests of 1000)\n",
        summary.requests * 1000 / (summary.duration / 1e6), summary.requests))
end
LUA

echo "== GET /api/view/movie-1, 50 connections"
if [ -n "$AUTH_HEADER" ]; then
    wrk -t2 -c50 -d"$DURATION" --latency -H "authorization: $AUTH_HEADER" "$URL/api/view/movie-1"
else
    wrk -t2 -c50 -d"$DURATION" --latency "$URL/api/view/movie-1"
fi
echo "== POST /api/deltas (1 delta), 50 connections"
wrk -t2 -c50 -d"$DURATION" --latency -s "$WORK/single.lua" "$URL"
echo "== POST /api/deltas (1,000 deltas), 8 connections"
wrk -t2 -c8 -d"$DURATION" --latency -s "$WORK/batch.lua" "$URL"
curl -s -H "authorization: $AUTH_HEADER" "$URL/api/deltas/count"; echo
