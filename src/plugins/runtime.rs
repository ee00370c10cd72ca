//! The WebAssembly side of a plugin: checking a module against ABI v1
//! ([`Compiled::new`]) and calling its hooks in an isolated instance with a
//! fuel budget and a memory cap ([`Instance::invoke`]).
//!
//! The runtime is [`wasmi`], an interpreter: modules load in about a
//! millisecond (it validates eagerly and translates a function the first
//! time it runs), fuel metering bounds every call, and a
//! [`wasmi::StoreLimits`] caps each instance's memory. Every instance has
//! its own [`wasmi::Store`]: nothing is shared between plugins, or between
//! two instances of one plugin.
//!
//! ```
//! use rhizome::plugins::runtime::{Compiled, engine};
//!
//! // A module that is WebAssembly but exports nothing is refused, named.
//! let empty = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
//! let err = Compiled::new(&engine(), &empty).err().unwrap();
//! assert_eq!(err, "missing exports: memory, alloc");
//! let err = Compiled::new(&engine(), b"hello").err().unwrap();
//! assert!(err.contains("not a WebAssembly module"));
//! ```

use std::fmt;
use std::sync::Arc;

use wasmi::{
    Caller, Config, Engine, Extern, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder,
    TrapCode, TypedFunc, ValType,
};

/// The import a plugin may have: `rhizome.log(ptr, len)`.
pub const LOG_IMPORT: (&str, &str) = ("rhizome", "log");
/// Longest line `rhizome.log` writes (longer ones are cut).
pub const LOG_LINE_LIMIT: usize = 4096;
/// Largest output a hook may return.
pub const OUTPUT_LIMIT: usize = 16 * 1024 * 1024;

/// The hooks of ABI v1 that take `(ptr, len)` and return `i64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// A resolution strategy named after the plugin.
    Resolve,
    /// Checks every delta a client writes.
    Validate,
    /// Every stored delta, in arrival order.
    HandleDelta,
    /// `POST /api/plugins/{name}/call`.
    Call,
}

impl Hook {
    /// Every hook, in the order `exports` lists them.
    pub const ALL: [Hook; 4] = [Hook::Resolve, Hook::Validate, Hook::HandleDelta, Hook::Call];

    /// The export's name.
    pub fn export(self) -> &'static str {
        match self {
            Hook::Resolve => "resolve",
            Hook::Validate => "validate",
            Hook::HandleDelta => "handle_delta",
            Hook::Call => "call",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.export())
    }
}

/// Why one hook call failed. Each fails that call only; the supervisor
/// decides what happens to the plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The module trapped (`unreachable`, a bad memory access, a stack
    /// overflow, ...).
    Trap(String),
    /// The call used its whole fuel budget.
    OutOfFuel {
        /// The budget of one hook call.
        fuel: u64,
    },
    /// The module tried to grow its memory past the cap.
    MemoryLimit {
        /// The cap, in bytes.
        bytes: usize,
    },
    /// The module broke the ABI: a pointer or length outside its memory, an
    /// answer that is not UTF-8 JSON of the expected shape.
    Abi(String),
}

impl Fault {
    /// A short machine-readable kind: `trap`, `out_of_fuel`,
    /// `memory_limit` or `abi`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Trap(_) => "trap",
            Fault::OutOfFuel { .. } => "out_of_fuel",
            Fault::MemoryLimit { .. } => "memory_limit",
            Fault::Abi(_) => "abi",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Trap(m) => write!(f, "trap: {m}"),
            Fault::OutOfFuel { fuel } => {
                write!(f, "out of fuel: the hook used its budget of {fuel} units")
            }
            Fault::MemoryLimit { bytes } => {
                write!(
                    f,
                    "memory limit: the module tried to grow past {bytes} bytes"
                )
            }
            Fault::Abi(m) => write!(f, "ABI violation: {m}"),
        }
    }
}

/// What one hook call may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunLimits {
    /// Fuel of one hook call (about one unit per instruction).
    pub fuel: u64,
    /// Largest linear memory of an instance, in bytes.
    pub memory_bytes: usize,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            fuel: 10_000_000,
            memory_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The engine every plugin of a node is compiled with: fuel metering on.
pub fn engine() -> Engine {
    let mut config = Config::default();
    config.consume_fuel(true);
    Engine::new(&config)
}

/// A module that passed the ABI v1 checks, with what it exports.
#[derive(Clone)]
pub struct Compiled {
    module: Module,
    /// blake3 of the module's bytes, hex.
    pub hash: String,
    /// The hooks it exports (`manifest` first when present, then
    /// [`Hook::ALL`] order).
    pub exports: Vec<&'static str>,
    /// The module's size in bytes.
    pub size: usize,
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compiled")
            .field("hash", &self.hash)
            .field("exports", &self.exports)
            .finish_non_exhaustive()
    }
}

fn sig(params: &[ValType], results: &[ValType]) -> String {
    let list = |v: &[ValType]| {
        v.iter()
            .map(|t| format!("{t:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(params), list(results))
}

impl Compiled {
    /// Parses and validates `bytes` and checks them against ABI v1: exports
    /// `memory` and `alloc(i32) -> i32`, at least one hook, every hook with
    /// its signature, and no import but `rhizome.log(i32, i32)`. The error
    /// is a sentence naming what is wrong.
    pub fn new(engine: &Engine, bytes: &[u8]) -> Result<Compiled, String> {
        if !bytes.starts_with(b"\0asm") {
            return Err("the body is not a WebAssembly module (no \\0asm magic number)".into());
        }
        let module =
            Module::new(engine, bytes).map_err(|e| format!("the module does not validate: {e}"))?;
        for import in module.imports() {
            let ok = (import.module(), import.name()) == LOG_IMPORT
                && import.ty().func().is_some_and(|f| {
                    f.params() == [ValType::I32, ValType::I32] && f.results().is_empty()
                });
            if !ok {
                let known = (import.module(), import.name()) == LOG_IMPORT;
                return Err(if known {
                    "import rhizome.log must be a function (i32, i32) -> ()".to_owned()
                } else {
                    format!(
                        "unknown import {}.{}: a plugin may import only rhizome.log",
                        import.module(),
                        import.name()
                    )
                });
            }
        }
        let mut missing = Vec::new();
        match module.get_export("memory") {
            Some(t) if t.memory().is_some() => {}
            Some(_) => return Err("export memory must be a memory".into()),
            None => missing.push("memory"),
        }
        let func = |name: &str| module.get_export(name).map(|t| t.func().cloned());
        let check = |name: &str, params: &[ValType], results: &[ValType]| -> Result<bool, String> {
            match func(name) {
                None => Ok(false),
                Some(Some(f)) if f.params() == params && f.results() == results => Ok(true),
                Some(Some(f)) => Err(format!(
                    "export {name} must be a function {}, not {}",
                    sig(params, results),
                    sig(f.params(), f.results())
                )),
                Some(None) => Err(format!("export {name} must be a function")),
            }
        };
        if !check("alloc", &[ValType::I32], &[ValType::I32])? {
            missing.push("alloc");
        }
        if !missing.is_empty() {
            return Err(format!("missing exports: {}", missing.join(", ")));
        }
        let mut exports = Vec::new();
        if check("manifest", &[], &[ValType::I64])? {
            exports.push("manifest");
        }
        for hook in Hook::ALL {
            if check(
                hook.export(),
                &[ValType::I32, ValType::I32],
                &[ValType::I64],
            )? {
                exports.push(hook.export());
            }
        }
        if exports.iter().all(|e| *e == "manifest") {
            return Err(
                "missing exports: the module exports no hook (resolve, validate, handle_delta or call)"
                    .into(),
            );
        }
        Ok(Compiled {
            module,
            hash: blake3::hash(bytes).to_hex().to_string(),
            exports,
            size: bytes.len(),
        })
    }

    /// Whether the module exports `hook`.
    pub fn has(&self, hook: Hook) -> bool {
        self.exports.contains(&hook.export())
    }
}

/// What the store of an instance carries.
struct HostState {
    limits: StoreLimits,
    plugin: Arc<str>,
}

/// One instance of a plugin: its own store, memory and globals.
pub struct Instance {
    store: Store<HostState>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    manifest: Option<TypedFunc<(), i64>>,
    hooks: [Option<TypedFunc<(i32, i32), i64>>; 4],
    limits: RunLimits,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("plugin", &self.store.data().plugin)
            .finish_non_exhaustive()
    }
}

fn fault(e: &wasmi::Error, limits: RunLimits) -> Fault {
    match e.as_trap_code() {
        Some(TrapCode::OutOfFuel) => Fault::OutOfFuel { fuel: limits.fuel },
        Some(TrapCode::GrowthOperationLimited | TrapCode::OutOfSystemMemory) => {
            Fault::MemoryLimit {
                bytes: limits.memory_bytes,
            }
        }
        Some(code) => Fault::Trap(code.to_string()),
        None => Fault::Trap(e.to_string()),
    }
}

impl Instance {
    /// Instantiates `compiled` for the plugin `name` (its start function,
    /// if any, runs with the fuel of one hook call).
    pub fn new(
        engine: &Engine,
        compiled: &Compiled,
        name: &str,
        limits: RunLimits,
    ) -> Result<Instance, Fault> {
        let state = HostState {
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .memories(1)
                .tables(4)
                .instances(1)
                .trap_on_grow_failure(true)
                .build(),
            plugin: name.into(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limits);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| Fault::Trap(e.to_string()))?;
        let mut linker = Linker::<HostState>::new(engine);
        linker
            .func_wrap(
                LOG_IMPORT.0,
                LOG_IMPORT.1,
                |caller: Caller<'_, HostState>, ptr: i32, len: i32| log_line(&caller, ptr, len),
            )
            .map_err(|e| Fault::Trap(e.to_string()))?;
        let instance = linker
            .instantiate_and_start(&mut store, &compiled.module)
            .map_err(|e| match fault(&e, limits) {
                // Instantiation refuses a memory whose initial size is over
                // the cap with a message, not a trap code.
                Fault::Trap(m) if m.contains("limit") || m.contains("memory") => {
                    Fault::MemoryLimit {
                        bytes: limits.memory_bytes,
                    }
                }
                f => f,
            })?;
        let abi = |what: &str| Fault::Abi(format!("the instance has no usable {what}"));
        let memory = instance
            .get_memory(&store, "memory")
            .ok_or_else(|| abi("memory"))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&store, "alloc")
            .map_err(|_| abi("alloc"))?;
        let manifest = instance.get_typed_func::<(), i64>(&store, "manifest").ok();
        let hooks = Hook::ALL.map(|h| {
            instance
                .get_typed_func::<(i32, i32), i64>(&store, h.export())
                .ok()
        });
        Ok(Instance {
            store,
            memory,
            alloc,
            manifest,
            hooks,
            limits,
        })
    }

    /// Whether the instance has `hook`.
    pub fn has(&self, hook: Hook) -> bool {
        self.hooks[hook as usize].is_some()
    }

    /// Calls `manifest()`; `None` if the module has none.
    pub fn manifest(&mut self) -> Option<Result<Vec<u8>, Fault>> {
        let f = self.manifest?;
        Some(self.refuel().and_then(|()| {
            let packed = f
                .call(&mut self.store, ())
                .map_err(|e| fault(&e, self.limits))?;
            self.read_output(packed)
        }))
    }

    /// Calls `hook` with `input` (written into the instance's memory at a
    /// pointer from its `alloc`) and returns the bytes it answers, checked
    /// to be UTF-8. A missing hook is an ABI fault.
    pub fn invoke(&mut self, hook: Hook, input: &[u8]) -> Result<Vec<u8>, Fault> {
        let f = self.hooks[hook as usize]
            .ok_or_else(|| Fault::Abi(format!("the module does not export {hook}")))?;
        self.refuel()?;
        let len = i32::try_from(input.len())
            .map_err(|_| Fault::Abi(format!("input of {} bytes is too large", input.len())))?;
        let ptr = self
            .alloc
            .call(&mut self.store, len)
            .map_err(|e| fault(&e, self.limits))?;
        let start = self.check_range(ptr as u32 as u64, input.len() as u64, "alloc")?;
        self.memory.data_mut(&mut self.store)[start..start + input.len()].copy_from_slice(input);
        let packed = f
            .call(&mut self.store, (ptr, len))
            .map_err(|e| fault(&e, self.limits))?;
        self.read_output(packed)
    }

    fn refuel(&mut self) -> Result<(), Fault> {
        self.store
            .set_fuel(self.limits.fuel)
            .map_err(|e| Fault::Trap(e.to_string()))
    }

    /// Bytes `[ptr, ptr + len)` must lie in the memory; returns `ptr`.
    fn check_range(&self, ptr: u64, len: u64, what: &str) -> Result<usize, Fault> {
        let size = self.memory.data(&self.store).len() as u64;
        if ptr.checked_add(len).is_none_or(|end| end > size) {
            return Err(Fault::Abi(format!(
                "{what} gave pointer {ptr} and length {len}, outside the module's memory of {size} bytes"
            )));
        }
        Ok(ptr as usize)
    }

    fn read_output(&self, packed: i64) -> Result<Vec<u8>, Fault> {
        let packed = packed as u64;
        let (ptr, len) = (packed >> 32, packed & 0xffff_ffff);
        if len as usize > OUTPUT_LIMIT {
            return Err(Fault::Abi(format!(
                "the answer of {len} bytes is larger than the limit of {OUTPUT_LIMIT}"
            )));
        }
        let start = self.check_range(ptr, len, "the hook's answer")?;
        let bytes = self.memory.data(&self.store)[start..start + len as usize].to_vec();
        if let Err(e) = std::str::from_utf8(&bytes) {
            return Err(Fault::Abi(format!("the answer is not UTF-8: {e}")));
        }
        Ok(bytes)
    }
}

/// `rhizome.log(ptr, len)`: one line to the node's log, attributed to the
/// plugin. A pointer outside the memory logs that instead (a log line is
/// never worth failing a hook for).
fn log_line(caller: &Caller<'_, HostState>, ptr: i32, len: i32) {
    let plugin = Arc::clone(&caller.data().plugin);
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return;
    };
    let data = memory.data(caller);
    let (ptr, len) = (
        ptr as u32 as usize,
        (len as u32 as usize).min(LOG_LINE_LIMIT),
    );
    match data.get(ptr..ptr.saturating_add(len)) {
        Some(bytes) => {
            tracing::info!(plugin = %plugin, "{}", String::from_utf8_lossy(bytes));
        }
        None => tracing::warn!(plugin = %plugin, "rhizome.log with a pointer outside memory"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(wat: &str) -> Result<Compiled, String> {
        compile_for(&engine(), wat)
    }

    fn compile_for(engine: &Engine, wat: &str) -> Result<Compiled, String> {
        Compiled::new(engine, &wat::parse_str(wat).unwrap())
    }

    const ECHO: &str = r#"(module
      (memory (export "memory") 1)
      (global $next (mut i32) (i32.const 1024))
      (func (export "alloc") (param $n i32) (result i32)
        (local $p i32)
        (local.set $p (global.get $next))
        (global.set $next (i32.add (global.get $next) (local.get $n)))
        (local.get $p))
      (func (export "call") (param $p i32) (param $n i32) (result i64)
        (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
                (i64.extend_i32_u (local.get $n)))))"#;

    #[test]
    fn echo_round_trips_and_fuel_is_per_call() {
        let e = engine();
        let c = compile_for(&e, ECHO).unwrap();
        assert_eq!(c.exports, ["call"]);
        let mut i = Instance::new(&e, &c, "echo", RunLimits::default()).unwrap();
        for _ in 0..3 {
            assert_eq!(i.invoke(Hook::Call, br#"{"a":1}"#).unwrap(), br#"{"a":1}"#);
        }
        assert!(matches!(i.invoke(Hook::Resolve, b"{}"), Err(Fault::Abi(_))));
    }

    #[test]
    fn bad_modules_are_named() {
        let err = Compiled::new(&engine(), b"hello").unwrap_err();
        assert!(err.contains("not a WebAssembly module"), "{err}");
        let err = compile(r#"(module (import "env" "abort" (func)) (memory (export "memory") 1))"#)
            .unwrap_err();
        assert!(err.contains("unknown import env.abort"), "{err}");
        let err =
            compile(r#"(module (func (export "call") (param i32 i32) (result i64) i64.const 0))"#)
                .unwrap_err();
        assert_eq!(err, "missing exports: memory, alloc");
        let err = compile(
            r#"(module (memory (export "memory") 1)
                 (func (export "alloc") (param i32) (result i32) i32.const 0)
                 (func (export "call") (param i32) (result i64) i64.const 0))"#,
        )
        .unwrap_err();
        assert!(
            err.contains("export call must be a function (i32, i32) -> (i64)"),
            "{err}"
        );
    }

    #[test]
    fn faults_are_told_apart() {
        let e = engine();
        let body = |code: &str| {
            format!(
                r#"(module (memory (export "memory") 1)
                 (func (export "alloc") (param i32) (result i32) i32.const 0)
                 (func (export "call") (param i32 i32) (result i64) {code}))"#
            )
        };
        let limits = RunLimits {
            fuel: 100_000,
            memory_bytes: 1 << 20,
        };
        let run = |code: &str| {
            let c = compile_for(&e, &body(code)).unwrap();
            Instance::new(&e, &c, "t", limits)
                .unwrap()
                .invoke(Hook::Call, b"{}")
        };
        let trap = run("unreachable").unwrap_err();
        assert_eq!(trap.kind(), "trap", "{trap}");
        assert!(trap.to_string().contains("unreachable"), "{trap}");
        assert_eq!(
            run("(loop $l (br $l)) i64.const 0"),
            Err(Fault::OutOfFuel { fuel: 100_000 })
        );
        assert_eq!(
            run(
                "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) i64.const 0"
            ),
            Err(Fault::MemoryLimit { bytes: 1 << 20 })
        );
        // Pointer 65536, length 1: one past the end of one page.
        let out = run("i64.const 0x1000000000001").unwrap_err();
        assert_eq!(out.kind(), "abi", "{out}");
        // Bytes that are not UTF-8 (zeroed memory is; 0xff is not).
        let out = run("(i32.store8 (i32.const 0) (i32.const 255)) i64.const 1").unwrap_err();
        assert!(out.to_string().contains("not UTF-8"), "{out}");
    }
}
