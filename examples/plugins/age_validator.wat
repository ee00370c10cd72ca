;; A validator with a schema-like rule: a pointer whose role is `age` must
;; target a number. Runs on every delta a client writes (never on deltas
;; from peers); a refusal is a 422 rejected_by_plugin and nothing of the
;; batch is stored.
(module
  ;; ---- ABI v1 plumbing (the same in every example) --------------------
  ;; Page 0 holds constants (below 1000) and scratch; the node's input is
  ;; written at 65536 by `alloc`, which also resets the bump heap: every
  ;; hook call is one `alloc` then the hook, so nothing needs freeing. The
  ;; answer is built right after the input, from $out to $cur.
  (memory (export "memory") 2)
  (global $out (mut i32) (i32.const 0))
  (global $cur (mut i32) (i32.const 0))
  (func (export "alloc") (param $n i32) (result i32)
    (global.set $out (i32.add (i32.const 65536) (local.get $n)))
    (global.set $cur (global.get $out))
    (call $fit (global.get $out))
    (i32.const 65536))
  ;; grows the memory until it covers [0, end)
  (func $fit (param $end i32)
    (block $ok (loop $more
      (br_if $ok (i32.le_u (local.get $end) (i32.mul (memory.size) (i32.const 65536))))
      (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
      (br $more))))
  ;; appends [p, p+n) to the answer
  (func $emit (param $p i32) (param $n i32)
    (call $fit (i32.add (global.get $cur) (local.get $n)))
    (memory.copy (global.get $cur) (local.get $p) (local.get $n))
    (global.set $cur (i32.add (global.get $cur) (local.get $n))))
  ;; appends v in decimal (digits are made in the scratch bytes 1000..1024)
  (func $emit_u64 (param $v i64)
    (local $p i32)
    (local.set $p (i32.const 1024))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i64.store8 (local.get $p) (i64.add (i64.const 48) (i64.rem_u (local.get $v) (i64.const 10))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (call $emit (local.get $p) (i32.sub (i32.const 1024) (local.get $p))))
  ;; the hook's return value: (out_ptr << 32) | out_len
  (func $answer (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (global.get $out)) (i64.const 32))
            (i64.extend_i32_u (i32.sub (global.get $cur) (global.get $out)))))
  ;; whether [a, a+n) and [b, b+n) hold the same bytes
  (func $same (param $a i32) (param $b i32) (param $n i32) (result i32)
    (local $i i32)
    (block $no (loop $cmp
      (if (i32.eq (local.get $i) (local.get $n)) (then (return (i32.const 1))))
      (br_if $no (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                         (i32.load8_u (i32.add (local.get $b) (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $cmp)))
    (i32.const 0))
  ;; the first position of [pat, pat+plen) in [from, end), or -1
  (func $find (param $from i32) (param $end i32) (param $pat i32) (param $plen i32) (result i32)
    (block $none (loop $at
      (br_if $none (i32.gt_u (i32.add (local.get $from) (local.get $plen)) (local.get $end)))
      ;; the first byte inline: most positions differ there
      (if (i32.eq (i32.load8_u (local.get $from)) (i32.load8_u (local.get $pat)))
        (then
          (if (call $same (local.get $from) (local.get $pat) (local.get $plen))
            (then (return (local.get $from))))))
      (local.set $from (i32.add (local.get $from) (i32.const 1)))
      (br $at)))
    (i32.const -1))
  ;; the position of the quote closing the JSON string whose text starts at p
  (func $string_end (param $p i32) (param $end i32) (result i32)
    (local $c i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $c (i32.load8_u (local.get $p)))
      (br_if $done (i32.eq (local.get $c) (i32.const 34)))
      ;; a backslash escapes the next byte
      (if (i32.eq (local.get $c) (i32.const 92))
        (then (local.set $p (i32.add (local.get $p) (i32.const 1)))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $next)))
    (local.get $p))
  ;; ---- end of the ABI plumbing ------------------------------------------

  (data (i32.const 0) "\"localContext\":\"age\",\"target\":")  ;; 30 bytes
  (data (i32.const 64) "{\"ok\":true}")                           ;; 11 bytes
  (data (i32.const 80) "{\"ok\":false,\"reason\":\"age must be a number\"}") ;; 44 bytes

  ;; manifest: no dependencies (shown for the ABI's sake)
  (data (i32.const 160) "{\"depends_on\":[]}")                    ;; 17 bytes
  (func (export "manifest") (result i64) (i64.const 0xa000000011))

  ;; in: {"principal":P,"delta":{... "pointers":[{"localContext","target",...}]}}
  (func (export "validate") (param $p i32) (param $n i32) (result i64)
    (local $end i32) (local $at i32) (local $c i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $at (local.get $p))
    (block $ok (loop $next
      (local.set $at (call $find (local.get $at) (local.get $end) (i32.const 0) (i32.const 30)))
      (br_if $ok (i32.eq (local.get $at) (i32.const -1)))
      (local.set $at (i32.add (local.get $at) (i32.const 30)))
      (local.set $c (i32.load8_u (local.get $at)))
      ;; a number starts with '-' or a digit
      (if (i32.eqz (i32.or (i32.eq (local.get $c) (i32.const 45))
                           (i32.lt_u (i32.sub (local.get $c) (i32.const 48)) (i32.const 10))))
        (then (return (i64.const 0x500000002c))))   ;; the refusal at 80, 44 bytes
      (br $next)))
    (i64.const 0x400000000b))                       ;; {"ok":true} at 64, 11 bytes
)
