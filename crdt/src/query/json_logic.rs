//! JSON Logic (jsonlogic.com): filters over a view object `{"id",
//! "properties"}`, compiled once and evaluated many times.
//!
//! The semantics follow jsonlogic.com's reference implementation, which
//! follows JavaScript: truthiness (`0`, `""`, `[]`, `null`, `false` are
//! false; `{}` is true), loose equality (`==`: `1 == "1"`, `[] == 0`,
//! `null == null` but `null != 0`), relational comparison of strings as
//! strings and of anything else as numbers. `docs/queries.md` lists the
//! operators and limits.
//!
//! ```
//! use rhizome_crdt::query::Logic;
//! use serde_json::json;
//!
//! let filter = Logic::compile(&json!({"and": [
//!     {">": [{"var": "properties.year"}, 1990]},
//!     {"in": ["Scott", {"var": "properties.director.properties.name"}]}]}))?;
//! let movie = json!({"id": "m1", "properties": {"year": 1979,
//!     "director": {"id": "p1", "properties": {"name": "Ridley Scott"}}}});
//! assert!(!filter.matches(&movie)?);
//! // An entity without `year` cannot match: the query layer skips it unresolved.
//! assert!(filter.required_properties().contains("year"));
//!
//! let e = Logic::compile(&json!({"regex": ["a", "b"]})).unwrap_err();
//! assert_eq!(e.to_string(), r#"filter filter: unknown operator "regex""#);
//! # Ok::<(), rhizome_crdt::Error>(())
//! ```

use std::borrow::Cow;
use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::{Error, Result};

/// Bounds that keep a hostile filter from exhausting the stack, the CPU or
/// memory.
pub mod limits {
    /// The deepest nesting of operators a filter may have.
    pub const MAX_DEPTH: usize = 64;
    /// The most operator applications one evaluation may make.
    pub const MAX_STEPS: u64 = 1_000_000;
    /// The longest array an evaluation may build.
    pub const MAX_ARRAY: usize = 100_000;
    /// The longest string an evaluation may build, in bytes.
    pub const MAX_STRING: usize = 1 << 20;
}

/// A compiled JSON Logic expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Logic {
    root: Node,
    required: BTreeSet<Arc<str>>,
    reads: Option<BTreeSet<Arc<str>>>,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    /// A scalar (or empty-object) literal.
    Literal(Json),
    /// An array literal: its elements are expressions.
    Array(Vec<Node>),
    /// An operator and its arguments.
    Op(Op, Vec<Node>),
}

macro_rules! operators {
    ($($variant:ident = $name:literal),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Op { $($variant),* }

        impl Op {
            fn parse(name: &str) -> Option<Op> {
                match name { $($name => Some(Op::$variant),)* _ => None }
            }
        }

        /// The operators supported, as written in a filter.
        pub const OPERATORS: &[&str] = &[$($name),*];
    };
}

operators! {
    Var = "var", Missing = "missing", MissingSome = "missing_some",
    If = "if", Ternary = "?:", Eq = "==", StrictEq = "===", Ne = "!=", StrictNe = "!==",
    Lt = "<", Le = "<=", Gt = ">", Ge = ">=", And = "and", Or = "or", Not = "!", NotNot = "!!",
    In = "in", Cat = "cat", Substr = "substr", Add = "+", Sub = "-", Mul = "*", Div = "/",
    Mod = "%", Min = "min", Max = "max", Map = "map", Filter = "filter", Reduce = "reduce",
    All = "all", Some = "some", None = "none", Merge = "merge",
}

impl Logic {
    /// Compiles a JSON Logic expression. An object must have exactly one
    /// key, a known operator ([`Error::UnknownOperator`]); nesting deeper
    /// than [`limits::MAX_DEPTH`] is refused ([`Error::InvalidFilter`]).
    pub fn compile(json: &Json) -> Result<Logic> {
        let root = compile(json, "filter", 0)?;
        let required = required(&root);
        let mut vars = Vec::new();
        root_vars(&root, &mut vars);
        let reads = vars
            .into_iter()
            .map(|v| v.and_then(|p| property_of(&p)))
            .collect::<Option<Vec<String>>>()
            .map(|names| {
                names
                    .into_iter()
                    .filter(|n| !n.is_empty())
                    .map(Arc::from)
                    .collect()
            });
        Ok(Logic {
            root,
            required,
            reads,
        })
    }

    /// Evaluates against `data`. Fails only past a limit
    /// ([`Error::FilterLimit`]).
    pub fn evaluate(&self, data: &Json) -> Result<Json> {
        let mut ev = Eval::new();
        let data = Val::from_json(data);
        Ok(ev.eval(&self.root, &data)?.to_json())
    }

    /// Whether the result for `data` is truthy.
    pub fn matches(&self, data: &Json) -> Result<bool> {
        let mut ev = Eval::new();
        let data = Val::from_json(data);
        Ok(ev.eval(&self.root, &data)?.truthy())
    }

    /// Properties `X` such that the filter is false for any view lacking
    /// `X` (its `properties.X` absent): a conjunction of comparisons that
    /// fail on a missing value (`{"==": [{"var": "properties.genre"},
    /// "drama"]}`, `{">": [{"var": "properties.year"}, 1990]}`, ...). A view
    /// lacking any of them can be skipped without resolving it. Found by
    /// evaluating each comparison with `X` absent, so it is exact for what
    /// it finds; `or` keeps what all branches require.
    pub fn required_properties(&self) -> &BTreeSet<Arc<str>> {
        &self.required
    }

    /// The properties the filter may read (`properties.X...` paths), or
    /// `None` when it may read anything (a computed path, `""`, `id`
    /// excepted: reading `id` reads no property).
    pub fn properties_read(&self) -> Option<&BTreeSet<Arc<str>>> {
        self.reads.as_ref()
    }
}

fn compile(json: &Json, path: &str, depth: usize) -> Result<Node> {
    if depth > limits::MAX_DEPTH {
        return Err(Error::InvalidFilter {
            path: path.to_owned(),
            problem: format!("nests deeper than {} levels", limits::MAX_DEPTH),
        });
    }
    match json {
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| compile(item, &format!("{path}[{i}]"), depth + 1))
            .collect::<Result<Vec<_>>>()
            .map(Node::Array),
        Json::Object(map) if map.is_empty() => Ok(Node::Literal(json.clone())),
        Json::Object(map) => {
            let mut entries = map.iter();
            let (Some((name, args)), None) = (entries.next(), entries.next()) else {
                return Err(Error::InvalidFilter {
                    path: path.to_owned(),
                    problem: "must have exactly one key, the operator".into(),
                });
            };
            let Some(op) = Op::parse(name) else {
                return Err(Error::UnknownOperator {
                    operator: name.clone(),
                    path: path.to_owned(),
                });
            };
            let inner = format!("{path}.{name}");
            let args = match args {
                Json::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, a)| compile(a, &format!("{inner}[{i}]"), depth + 1))
                    .collect::<Result<Vec<_>>>()?,
                single => vec![compile(single, &inner, depth + 1)?],
            };
            Ok(Node::Op(op, args))
        }
        scalar => Ok(Node::Literal(scalar.clone())),
    }
}

/// Root-scoped `var` paths (and `missing` keys): `Some(path)` when literal,
/// `None` when computed. Element-scoped logic (the second argument of
/// `map`, `filter`, `reduce`, `all`, `some`, `none`) is not root-scoped.
fn root_vars(node: &Node, out: &mut Vec<Option<String>>) {
    match node {
        Node::Literal(_) => {}
        Node::Array(items) => items.iter().for_each(|n| root_vars(n, out)),
        Node::Op(op, args) => match op {
            Op::Var => {
                out.push(args.first().map_or(Some(String::new()), literal_path));
                args.iter().for_each(|n| root_vars(n, out));
            }
            Op::Missing | Op::MissingSome => {
                let keys: Vec<&Node> = match (op, args.as_slice()) {
                    (Op::MissingSome, [_, Node::Array(keys)]) => keys.iter().collect(),
                    (Op::Missing, [Node::Array(keys)]) => keys.iter().collect(),
                    (Op::Missing, keys) => keys.iter().collect(),
                    _ => vec![],
                };
                if op == &Op::MissingSome && !matches!(args.as_slice(), [_, Node::Array(_)]) {
                    out.push(None);
                }
                for k in keys {
                    out.push(literal_path(k));
                }
                args.iter().for_each(|n| root_vars(n, out));
            }
            Op::Map | Op::Filter | Op::All | Op::Some | Op::None => {
                args.iter().take(1).for_each(|n| root_vars(n, out));
            }
            Op::Reduce => {
                args.iter().take(1).for_each(|n| root_vars(n, out));
                args.iter().skip(2).for_each(|n| root_vars(n, out));
            }
            _ => args.iter().for_each(|n| root_vars(n, out)),
        },
    }
}

fn literal_path(node: &Node) -> Option<String> {
    match node {
        Node::Literal(Json::String(s)) => Some(s.clone()),
        Node::Literal(Json::Number(n)) => Some(js_number_string(n.as_f64().unwrap_or(f64::NAN))),
        Node::Literal(Json::Null) => Some(String::new()),
        _ => None,
    }
}

/// The property a root path reads: `properties.X...` → `X`; `id` reads
/// none (`Some("")` is never returned for it: it is filtered by the
/// caller); anything else (`""`, `properties`) may read every property.
fn property_of(path: &str) -> Option<String> {
    if path == "id" || path.starts_with("id.") {
        // Reads no property: mark with an impossible name, dropped below.
        return Some(String::new());
    }
    let rest = path.strip_prefix("properties.")?;
    let x = rest.split('.').next().unwrap_or(rest);
    Some(x.to_owned())
}

fn required(node: &Node) -> BTreeSet<Arc<str>> {
    match node {
        Node::Op(Op::And, args) => args.iter().flat_map(required).collect(),
        Node::Op(Op::Or, args) => {
            let mut sets = args.iter().map(required);
            let Some(first) = sets.next() else {
                return BTreeSet::new();
            };
            sets.fold(first, |acc, s| acc.intersection(&s).cloned().collect())
        }
        Node::Op(..) => {
            let mut vars = Vec::new();
            root_vars(node, &mut vars);
            let mut props = BTreeSet::new();
            for v in vars {
                match v.and_then(|p| property_of(&p)) {
                    Some(x) if !x.is_empty() => {
                        props.insert(x);
                    }
                    _ => return BTreeSet::new(),
                }
            }
            if props.len() != 1 {
                return BTreeSet::new();
            }
            let Some(x) = props.pop_first() else {
                return BTreeSet::new();
            };
            // With X absent, every root read gives null (or its default).
            let absent = serde_json::json!({"properties": {}});
            let mut ev = Eval::new();
            match ev.eval(node, &Val::from_json(&absent)) {
                Ok(v) if !v.truthy() => BTreeSet::from([Arc::from(x)]),
                _ => BTreeSet::new(),
            }
        }
        _ => BTreeSet::new(),
    }
}

/// A value during evaluation: JSON with JavaScript's numbers (NaN and
/// infinities included), borrowing strings and objects where it can.
#[derive(Clone, Debug)]
enum Val<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Val<'a>>),
    Obj(&'a Map<String, Json>),
    /// `reduce`'s data: `{"current", "accumulator"}`.
    Scope(Box<(Val<'a>, Val<'a>)>),
}

impl<'a> Val<'a> {
    fn from_json(j: &'a Json) -> Val<'a> {
        match j {
            Json::Null => Val::Null,
            Json::Bool(b) => Val::Bool(*b),
            Json::Number(n) => Val::Num(n.as_f64().unwrap_or(f64::NAN)),
            Json::String(s) => Val::Str(Cow::Borrowed(s)),
            Json::Array(items) => Val::Arr(items.iter().map(Val::from_json).collect()),
            Json::Object(m) => Val::Obj(m),
        }
    }

    fn to_json(&self) -> Json {
        match self {
            Val::Null => Json::Null,
            Val::Bool(b) => Json::Bool(*b),
            Val::Num(x) => number_json(*x),
            Val::Str(s) => Json::String(s.to_string()),
            Val::Arr(items) => Json::Array(items.iter().map(Val::to_json).collect()),
            Val::Obj(m) => Json::Object((*m).clone()),
            Val::Scope(s) => {
                serde_json::json!({"current": s.0.to_json(), "accumulator": s.1.to_json()})
            }
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Num(x) => *x != 0.0 && !x.is_nan(),
            Val::Str(s) => !s.is_empty(),
            Val::Arr(items) => !items.is_empty(),
            Val::Obj(_) | Val::Scope(_) => true,
        }
    }

    /// JavaScript's `ToPrimitive`: arrays and objects become strings.
    fn primitive(&self) -> Val<'a> {
        match self {
            Val::Arr(_) | Val::Obj(_) | Val::Scope(_) => Val::Str(Cow::Owned(self.js_string())),
            other => other.clone(),
        }
    }

    /// JavaScript's `ToNumber`.
    fn number(&self) -> f64 {
        match self {
            Val::Null => 0.0,
            Val::Bool(b) => f64::from(u8::from(*b)),
            Val::Num(x) => *x,
            Val::Str(s) => string_to_number(s),
            Val::Arr(_) => string_to_number(&self.js_string()),
            Val::Obj(_) | Val::Scope(_) => f64::NAN,
        }
    }

    /// JavaScript's `String(v)` (arrays joined by `,`, null elements empty).
    fn js_string(&self) -> String {
        match self {
            Val::Null => "null".into(),
            Val::Bool(b) => b.to_string(),
            Val::Num(x) => js_number_string(*x),
            Val::Str(s) => s.to_string(),
            Val::Arr(items) => items
                .iter()
                .map(|v| match v {
                    Val::Null => String::new(),
                    v => v.js_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            Val::Obj(_) | Val::Scope(_) => "[object Object]".into(),
        }
    }

    /// A property of this value, as JavaScript's `data[key]` (`None`:
    /// undefined).
    fn get(&self, key: &str) -> Option<Val<'a>> {
        match self {
            Val::Obj(m) => m.get(key).map(Val::from_json),
            Val::Arr(items) => key
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .cloned(),
            Val::Str(s) => key
                .parse::<usize>()
                .ok()
                .and_then(|i| s.chars().nth(i))
                .map(|c| Val::Str(Cow::Owned(c.to_string()))),
            Val::Scope(s) => match key {
                "current" => Some(s.0.clone()),
                "accumulator" => Some(s.1.clone()),
                _ => None,
            },
            _ => None,
        }
    }
}

fn number_json(x: f64) -> Json {
    if x.is_finite() && x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_992.0 {
        Json::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
    }
}

fn js_number_string(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if x.fract() == 0.0 && x.abs() < 1e21 {
        format!("{}", x as i128)
    } else {
        format!("{x}")
    }
}

/// JavaScript's `ToNumber` of a string.
fn string_to_number(s: &str) -> f64 {
    let t = s.trim();
    if t.is_empty() {
        return 0.0;
    }
    match t {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = t.strip_prefix(prefix) {
            return u64::from_str_radix(digits, radix).map_or(f64::NAN, |v| v as f64);
        }
    }
    if t.chars()
        .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    {
        return f64::NAN;
    }
    t.parse::<f64>().unwrap_or(f64::NAN)
}

/// JavaScript's `parseFloat`: the longest numeric prefix.
fn parse_float(v: &Val<'_>) -> f64 {
    let s = match v {
        Val::Num(x) => return *x,
        other => other.js_string(),
    };
    let t = s.trim_start();
    let bytes = t.as_bytes();
    let mut end = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    if t[end..].starts_with("Infinity") {
        return if t.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    let digits = |from: usize| {
        from + bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let int_end = digits(end);
    let mut last = int_end;
    let mut any = int_end > end;
    if bytes.get(int_end) == Some(&b'.') {
        let frac_end = digits(int_end + 1);
        any |= frac_end > int_end + 1;
        last = frac_end;
    }
    if !any {
        return f64::NAN;
    }
    if matches!(bytes.get(last), Some(b'e' | b'E')) {
        let mut e = last + 1;
        if matches!(bytes.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        let exp_end = digits(e);
        if exp_end > e {
            last = exp_end;
        }
    }
    t[..last].parse::<f64>().unwrap_or(f64::NAN)
}

/// JavaScript's `==`.
fn loose_eq(a: &Val<'_>, b: &Val<'_>) -> bool {
    use Val::*;
    match (a, b) {
        (Null, Null) => true,
        (Null, _) | (_, Null) => false,
        (Num(x), Num(y)) => x == y,
        (Str(x), Str(y)) => x == y,
        (Bool(x), Bool(y)) => x == y,
        (Num(x), Str(s)) | (Str(s), Num(x)) => *x == string_to_number(s),
        (Bool(x), other) | (other, Bool(x)) => loose_eq(&Num(f64::from(u8::from(*x))), other),
        (Arr(_) | Obj(_) | Scope(_), Arr(_) | Obj(_) | Scope(_)) => false,
        (obj @ (Arr(_) | Obj(_) | Scope(_)), prim) | (prim, obj @ (Arr(_) | Obj(_) | Scope(_))) => {
            loose_eq(&obj.primitive(), prim)
        }
    }
}

/// JavaScript's `===` (arrays and objects are never equal: no identity here).
fn strict_eq(a: &Val<'_>, b: &Val<'_>) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Num(x), Val::Num(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        _ => false,
    }
}

/// JavaScript's abstract relational comparison: `None` when undefined (NaN).
fn compare(a: &Val<'_>, b: &Val<'_>) -> Option<Ordering> {
    let (pa, pb) = (a.primitive(), b.primitive());
    if let (Val::Str(x), Val::Str(y)) = (&pa, &pb) {
        return Some(x.encode_utf16().cmp(y.encode_utf16()));
    }
    pa.number().partial_cmp(&pb.number())
}

fn lt(a: &Val<'_>, b: &Val<'_>) -> bool {
    compare(a, b) == Some(Ordering::Less)
}

fn le(a: &Val<'_>, b: &Val<'_>) -> bool {
    matches!(compare(a, b), Some(Ordering::Less | Ordering::Equal))
}

struct Eval {
    steps: Cell<u64>,
}

impl Eval {
    fn new() -> Eval {
        Eval {
            steps: Cell::new(0),
        }
    }

    fn step(&self) -> Result<()> {
        let n = self.steps.get() + 1;
        if n > limits::MAX_STEPS {
            return Err(Error::FilterLimit(format!(
                "more than {} operations in one evaluation",
                limits::MAX_STEPS
            )));
        }
        self.steps.set(n);
        Ok(())
    }

    fn array<'a>(items: Vec<Val<'a>>) -> Result<Val<'a>> {
        if items.len() > limits::MAX_ARRAY {
            return Err(Error::FilterLimit(format!(
                "an array longer than {} elements",
                limits::MAX_ARRAY
            )));
        }
        Ok(Val::Arr(items))
    }

    fn string<'a>(s: String) -> Result<Val<'a>> {
        if s.len() > limits::MAX_STRING {
            return Err(Error::FilterLimit(format!(
                "a string longer than {} bytes",
                limits::MAX_STRING
            )));
        }
        Ok(Val::Str(Cow::Owned(s)))
    }

    fn eval<'a>(&mut self, node: &'a Node, data: &Val<'a>) -> Result<Val<'a>> {
        self.step()?;
        match node {
            Node::Literal(j) => Ok(Val::from_json(j)),
            Node::Array(items) => {
                let vals = items
                    .iter()
                    .map(|n| self.eval(n, data))
                    .collect::<Result<Vec<_>>>()?;
                Eval::array(vals)
            }
            Node::Op(op, args) => self.apply(*op, args, data),
        }
    }

    fn arg<'a>(&mut self, args: &'a [Node], i: usize, data: &Val<'a>) -> Result<Val<'a>> {
        match args.get(i) {
            Some(n) => self.eval(n, data),
            None => Ok(Val::Null),
        }
    }

    fn all_args<'a>(&mut self, args: &'a [Node], data: &Val<'a>) -> Result<Vec<Val<'a>>> {
        args.iter().map(|n| self.eval(n, data)).collect()
    }

    fn var<'a>(&self, path: &Val<'a>, default: Val<'a>, data: &Val<'a>) -> Val<'a> {
        let path = match path {
            Val::Null => return data.clone(),
            Val::Str(s) if s.is_empty() => return data.clone(),
            Val::Arr(items) if items.is_empty() => return data.clone(),
            other => other.js_string(),
        };
        let mut at = data.clone();
        for key in path.split('.') {
            if matches!(at, Val::Null) {
                return default;
            }
            match at.get(key) {
                Some(v) => at = v,
                None => return default,
            }
        }
        at
    }

    fn missing<'a>(&self, keys: &[Val<'a>], data: &Val<'a>) -> Vec<Val<'a>> {
        keys.iter()
            .filter(|k| {
                let v = self.var(k, Val::Null, data);
                matches!(v, Val::Null) || matches!(&v, Val::Str(s) if s.is_empty())
            })
            .cloned()
            .collect()
    }

    fn apply<'a>(&mut self, op: Op, args: &'a [Node], data: &Val<'a>) -> Result<Val<'a>> {
        let num = Val::Num;
        Ok(match op {
            Op::Var => {
                let path = self.arg(args, 0, data)?;
                let default = self.arg(args, 1, data)?;
                self.var(&path, default, data)
            }
            Op::Missing => {
                let mut keys = self.all_args(args, data)?;
                if let [Val::Arr(inner)] = keys.as_mut_slice() {
                    keys = std::mem::take(inner);
                }
                Eval::array(self.missing(&keys, data))?
            }
            Op::MissingSome => {
                let need = self.arg(args, 0, data)?.number();
                let keys = match self.arg(args, 1, data)? {
                    Val::Arr(k) => k,
                    other => vec![other],
                };
                let missing = self.missing(&keys, data);
                if (keys.len() - missing.len()) as f64 >= need {
                    Val::Arr(vec![])
                } else {
                    Val::Arr(missing)
                }
            }
            Op::If | Op::Ternary => {
                let mut i = 0;
                while i + 1 < args.len() {
                    if self.eval(&args[i], data)?.truthy() {
                        return self.eval(&args[i + 1], data);
                    }
                    i += 2;
                }
                if i < args.len() {
                    self.eval(&args[i], data)?
                } else {
                    Val::Null
                }
            }
            Op::And | Op::Or => {
                let mut last = Val::Null;
                for a in args {
                    last = self.eval(a, data)?;
                    if last.truthy() != (op == Op::And) {
                        return Ok(last);
                    }
                }
                last
            }
            Op::Eq | Op::Ne | Op::StrictEq | Op::StrictNe => {
                let (a, b) = (self.arg(args, 0, data)?, self.arg(args, 1, data)?);
                Val::Bool(match op {
                    Op::Eq => loose_eq(&a, &b),
                    Op::Ne => !loose_eq(&a, &b),
                    Op::StrictEq => strict_eq(&a, &b),
                    _ => !strict_eq(&a, &b),
                })
            }
            Op::Lt | Op::Le => {
                let f = if op == Op::Lt { lt } else { le };
                let (a, b) = (self.arg(args, 0, data)?, self.arg(args, 1, data)?);
                if args.len() >= 3 {
                    let c = self.arg(args, 2, data)?;
                    Val::Bool(f(&a, &b) && f(&b, &c))
                } else {
                    Val::Bool(f(&a, &b))
                }
            }
            Op::Gt | Op::Ge => {
                let (a, b) = (self.arg(args, 0, data)?, self.arg(args, 1, data)?);
                Val::Bool(if op == Op::Gt { lt(&b, &a) } else { le(&b, &a) })
            }
            Op::Not => Val::Bool(!self.arg(args, 0, data)?.truthy()),
            Op::NotNot => Val::Bool(self.arg(args, 0, data)?.truthy()),
            Op::In => {
                let (a, b) = (self.arg(args, 0, data)?, self.arg(args, 1, data)?);
                Val::Bool(match &b {
                    Val::Str(s) => s.contains(a.js_string().as_str()),
                    Val::Arr(items) => items.iter().any(|i| strict_eq(i, &a)),
                    _ => false,
                })
            }
            Op::Cat => {
                let mut out = String::new();
                for v in self.all_args(args, data)? {
                    match v {
                        Val::Null => {}
                        v => out.push_str(&v.js_string()),
                    }
                }
                Eval::string(out)?
            }
            Op::Substr => {
                let source = self.arg(args, 0, data)?.js_string();
                let chars: Vec<char> = source.chars().collect();
                let len = chars.len() as i64;
                let int = |x: f64| {
                    if x.is_nan() {
                        0
                    } else {
                        x.trunc().clamp(-1e15, 1e15) as i64
                    }
                };
                let start = int(self.arg(args, 1, data)?.number());
                let start = if start < 0 {
                    (len + start).max(0)
                } else {
                    start.min(len)
                };
                let end = match args.get(2) {
                    None => len,
                    Some(n) => {
                        let n = int(self.eval(n, data)?.number());
                        if n < 0 {
                            (len + n).max(start)
                        } else {
                            (start + n).min(len)
                        }
                    }
                };
                let s: String = chars[start as usize..end.max(start) as usize]
                    .iter()
                    .collect();
                Val::Str(Cow::Owned(s))
            }
            Op::Add => {
                let vals = self.all_args(args, data)?;
                num(vals.iter().map(parse_float).sum())
            }
            Op::Mul => {
                let vals = self.all_args(args, data)?;
                if vals.is_empty() {
                    Val::Null
                } else {
                    num(vals.iter().map(parse_float).product())
                }
            }
            Op::Sub => {
                let a = self.arg(args, 0, data)?.number();
                if args.len() < 2 {
                    num(-a)
                } else {
                    num(a - self.arg(args, 1, data)?.number())
                }
            }
            Op::Div => {
                let (a, b) = (self.arg(args, 0, data)?, self.arg(args, 1, data)?);
                num(a.number() / b.number())
            }
            Op::Mod => {
                let (a, b) = (self.arg(args, 0, data)?, self.arg(args, 1, data)?);
                num(a.number() % b.number())
            }
            Op::Min | Op::Max => {
                let vals = self.all_args(args, data)?;
                if vals.is_empty() {
                    Val::Null
                } else {
                    let mut acc = if op == Op::Min {
                        f64::INFINITY
                    } else {
                        f64::NEG_INFINITY
                    };
                    for v in &vals {
                        let x = v.number();
                        if x.is_nan() {
                            acc = f64::NAN;
                            break;
                        }
                        acc = if op == Op::Min {
                            acc.min(x)
                        } else {
                            acc.max(x)
                        };
                    }
                    num(acc)
                }
            }
            Op::Merge => {
                let mut out = Vec::new();
                for v in self.all_args(args, data)? {
                    match v {
                        Val::Arr(items) => out.extend(items),
                        other => out.push(other),
                    }
                    if out.len() > limits::MAX_ARRAY {
                        return Eval::array(out);
                    }
                }
                Val::Arr(out)
            }
            Op::Map | Op::Filter | Op::All | Op::Some | Op::None => {
                let Val::Arr(items) = self.arg(args, 0, data)? else {
                    return Ok(match op {
                        Op::Map | Op::Filter => Val::Arr(vec![]),
                        Op::None => Val::Bool(true),
                        _ => Val::Bool(false),
                    });
                };
                let Some(logic) = args.get(1) else {
                    return Ok(match op {
                        Op::Map => Val::Arr(vec![Val::Null; items.len()]),
                        Op::Filter => Val::Arr(vec![]),
                        Op::None => Val::Bool(true),
                        _ => Val::Bool(false),
                    });
                };
                match op {
                    Op::Map => Val::Arr(
                        items
                            .iter()
                            .map(|i| self.eval(logic, i))
                            .collect::<Result<Vec<_>>>()?,
                    ),
                    Op::Filter => {
                        let mut out = Vec::new();
                        for i in items {
                            if self.eval(logic, &i)?.truthy() {
                                out.push(i);
                            }
                        }
                        Val::Arr(out)
                    }
                    Op::All => {
                        if items.is_empty() {
                            return Ok(Val::Bool(false));
                        }
                        for i in &items {
                            if !self.eval(logic, i)?.truthy() {
                                return Ok(Val::Bool(false));
                            }
                        }
                        Val::Bool(true)
                    }
                    _ => {
                        let mut any = false;
                        for i in &items {
                            if self.eval(logic, i)?.truthy() {
                                any = true;
                                break;
                            }
                        }
                        Val::Bool(if op == Op::Some { any } else { !any })
                    }
                }
            }
            Op::Reduce => {
                let initial = self.arg(args, 2, data)?;
                let (Val::Arr(items), Some(logic)) = (self.arg(args, 0, data)?, args.get(1)) else {
                    return Ok(initial);
                };
                let mut acc = initial;
                for current in items {
                    let scope = Val::Scope(Box::new((current, acc)));
                    acc = self.eval(logic, &scope)?;
                }
                acc
            }
        })
    }
}

#[cfg(test)]
mod tests;
