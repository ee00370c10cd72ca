//! The editing traces of `../shared/data/editing-traces/` (see its README),
//! turned into Automerge changes: for the document tests and the
//! benchmarks (`benches/documents.rs` includes this file by path).

#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Automerge, Change, ObjType, PatchLog, ROOT, TextEncoding};
use serde_json::Value;

/// Where the traces are: `$RHIZOME_TRACES`, else `../shared/data/editing-traces`
/// next to the repository, else `/work/shared/data/editing-traces`.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RHIZOME_TRACES") {
        return PathBuf::from(d);
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for candidate in [
        here.join("../shared/data/editing-traces"),
        here.join("../../shared/data/editing-traces"),
        PathBuf::from("/work/shared/data/editing-traces"),
    ] {
        if candidate.is_dir() {
            return candidate;
        }
    }
    panic!("the editing traces are not found: set RHIZOME_TRACES to their directory");
}

fn load(name: &str) -> Value {
    let path = dir().join(name);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// One edit: at code point `pos`, delete `del` code points, insert `ins`.
#[derive(Clone, Debug)]
pub struct Edit {
    pub pos: usize,
    pub del: usize,
    pub ins: String,
}

fn edit(p: &Value) -> Edit {
    Edit {
        pos: p[0].as_u64().unwrap() as usize,
        del: p[1].as_u64().unwrap() as usize,
        ins: p[2].as_str().unwrap().to_owned(),
    }
}

/// A sequential trace: every edit in order, and the final text.
pub struct Sequential {
    pub start: String,
    pub end: String,
    pub edits: Vec<Edit>,
}

/// `automerge-paper`: 259,778 single-character edits.
pub fn automerge_paper() -> Sequential {
    let v = load("automerge-paper.json.gz");
    let edits = v["txns"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["patches"].as_array().unwrap().iter().map(edit))
        .collect();
    Sequential {
        start: v["startContent"].as_str().unwrap().to_owned(),
        end: v["endContent"].as_str().unwrap().to_owned(),
        edits,
    }
}

/// The text after applying `edits` to `start` as a plain string.
pub fn apply_plain(start: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = start.chars().collect();
    for e in edits {
        chars.splice(e.pos..e.pos + e.del, e.ins.chars());
    }
    chars.into_iter().collect()
}

/// The time (s) written on the changes of the traces: each change one
/// second after the previous, from here.
pub const T0_SECONDS: i64 = 1_700_000_000;

/// Automerge changes replaying `edits` into the text at key `text`: a
/// first change creating the text (with `start`), then one change per
/// `per` edits.
pub fn sequential_changes(start: &str, edits: &[Edit], per: usize) -> Vec<Change> {
    let mut doc = AutoCommit::new_with_encoding(TextEncoding::UnicodeCodePoint);
    doc.set_actor(ActorId::from(&[0xaa; 16][..]));
    let text = doc.put_object(ROOT, "text", ObjType::Text).unwrap();
    doc.splice_text(&text, 0, 0, start).unwrap();
    let mut t = T0_SECONDS;
    doc.commit_with(CommitOptions::default().with_time(t));
    for chunk in edits.chunks(per.max(1)) {
        for e in chunk {
            doc.splice_text(&text, e.pos, e.del as isize, &e.ins)
                .unwrap();
        }
        t += 1;
        doc.commit_with(CommitOptions::default().with_time(t));
    }
    // All at the end: asking for each change as it is made costs time
    // that grows with the document.
    let out = doc.get_changes(&[]);
    assert_eq!(out.len(), edits.len().div_ceil(per.max(1)) + 1);
    out
}

/// One transaction of a concurrent trace.
pub struct Txn {
    pub parents: Vec<usize>,
    pub agent: usize,
    pub patches: Vec<Edit>,
}

/// A concurrent trace.
pub struct Concurrent {
    pub end: String,
    pub agents: usize,
    pub txns: Vec<Txn>,
}

/// `friendsforever`: two people typing at the same time.
pub fn friendsforever() -> Concurrent {
    let v = load("friendsforever.json.gz");
    let txns = v["txns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| Txn {
            parents: t["parents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_u64().unwrap() as usize)
                .collect(),
            agent: t["agent"].as_u64().unwrap() as usize,
            patches: t["patches"].as_array().unwrap().iter().map(edit).collect(),
        })
        .collect();
    Concurrent {
        end: v["endContent"].as_str().unwrap().to_owned(),
        agents: v["numAgents"].as_u64().unwrap() as usize,
        txns,
    }
}

/// The Automerge changes of a concurrent trace: a setup change creating
/// the text (every agent starts from it), then one change per transaction,
/// by its agent's actor, made at the state its parents name (so its
/// dependencies are its parents' changes). Returns the setup change and
/// `(agent, change)` per transaction, in trace order, for the first
/// `limit` transactions, and the text they make (Automerge's merge).
pub fn concurrent_changes(
    trace: &Concurrent,
    limit: usize,
) -> (Change, Vec<(usize, Change)>, String) {
    let mut doc = Automerge::new_with_encoding(TextEncoding::UnicodeCodePoint);
    doc.set_actor(ActorId::from(&[0xee; 16][..]));
    let mut tx = doc.transaction();
    let text = tx.put_object(ROOT, "text", ObjType::Text).unwrap();
    tx.commit_with(CommitOptions::default().with_time(T0_SECONDS));
    let setup = doc.get_last_local_change().unwrap();
    let mut hashes = Vec::with_capacity(trace.txns.len());
    let mut out = Vec::with_capacity(trace.txns.len());
    for (i, t) in trace.txns.iter().enumerate().take(limit) {
        let heads: Vec<_> = if t.parents.is_empty() {
            vec![setup.hash()]
        } else {
            t.parents.iter().map(|&p| hashes[p]).collect()
        };
        doc.set_actor(ActorId::from(&[t.agent as u8 + 1; 16][..]));
        let mut tx = doc.transaction_at(PatchLog::inactive(), &heads).unwrap();
        for e in &t.patches {
            tx.splice_text(&text, e.pos, e.del as isize, &e.ins)
                .unwrap();
        }
        tx.commit_with(CommitOptions::default().with_time(T0_SECONDS + 1 + i as i64));
        let change = doc.get_last_local_change().unwrap();
        hashes.push(change.hash());
        out.push((t.agent, change));
    }
    let text = automerge::ReadDoc::text(&doc, &text).unwrap();
    (setup, out, text)
}
