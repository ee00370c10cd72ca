//! Compares redb and fjall as Rhizome's append log: deltas in binary form
//! keyed by a big-endian u64 sequence number.
//!
//! `cargo run --release -- <redb|fjall> <dir> [records]`

use std::path::Path;
use std::time::{Duration, Instant};

#[path = "../../../src/workload.rs"]
#[allow(dead_code)]
mod workload;

use rhizome_crdt::codec::binary;

const TABLE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("deltas");

trait Engine {
    fn open(dir: &Path) -> Self;
    /// One durable commit of `records`, keyed from `first`.
    fn commit(&mut self, first: u64, records: &[Vec<u8>]);
    /// Visits every record in key order; returns how many.
    fn scan(&self, f: &mut dyn FnMut(u64, &[u8])) -> u64;
}

struct Redb(redb::Database);

fn quick_repair() -> bool {
    std::env::var_os("QUICK_REPAIR").is_some()
}

impl Engine for Redb {
    fn open(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let db = redb::Database::create(dir.join("rhizome.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(TABLE).unwrap();
        tx.commit().unwrap();
        Redb(db)
    }
    fn commit(&mut self, first: u64, records: &[Vec<u8>]) {
        let mut tx = self.0.begin_write().unwrap();
        tx.set_quick_repair(quick_repair());
        {
            let mut t = tx.open_table(TABLE).unwrap();
            for (k, r) in records.iter().enumerate() {
                t.insert(first + k as u64, r.as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    fn scan(&self, f: &mut dyn FnMut(u64, &[u8])) -> u64 {
        use redb::{ReadableDatabase, ReadableTable};
        let tx = self.0.begin_read().unwrap();
        let t = tx.open_table(TABLE).unwrap();
        let mut n = 0;
        for kv in t.iter().unwrap() {
            let (k, v) = kv.unwrap();
            f(k.value(), v.value());
            n += 1;
        }
        n
    }
}

struct Fjall(fjall::Database, fjall::Keyspace);

impl Engine for Fjall {
    fn open(dir: &Path) -> Self {
        let db = fjall::Database::builder(dir).open().unwrap();
        let ks = db
            .keyspace("deltas", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        Fjall(db, ks)
    }
    fn commit(&mut self, first: u64, records: &[Vec<u8>]) {
        let mut b = self
            .0
            .batch()
            .durability(Some(fjall::PersistMode::SyncAll));
        for (k, r) in records.iter().enumerate() {
            b.insert(&self.1, (first + k as u64).to_be_bytes(), r.as_slice());
        }
        b.commit().unwrap();
    }
    fn scan(&self, f: &mut dyn FnMut(u64, &[u8])) -> u64 {
        let mut n = 0;
        for g in self.1.iter() {
            let (k, v) = g.into_inner().unwrap();
            f(u64::from_be_bytes(k.as_ref().try_into().unwrap()), &v);
            n += 1;
        }
        n
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() { dir_bytes(&e.path()) } else { m.len() };
    }
    total
}

fn per_s(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn run<E: Engine>(name: &str, dir: &Path, n: u64) {
    let _ = std::fs::remove_dir_all(dir);
    let records: Vec<Vec<u8>> = (0..n)
        .map(|i| binary::encode(&workload::delta(1, i)))
        .collect();
    let payload: usize = records.iter().map(Vec::len).sum();
    println!(
        "{name}: {n} records, mean binary delta {:.1} bytes",
        payload as f64 / n as f64
    );

    let mut db = E::open(dir);
    let t = Instant::now();
    for (c, chunk) in records.chunks(1000).enumerate() {
        db.commit(1 + c as u64 * 1000, chunk);
    }
    let el = t.elapsed();
    println!(
        "{name}: batched 1000/commit: {:.0} records/s ({:.2} ms/commit)",
        per_s(n, el),
        el.as_secs_f64() * 1000.0 / (n as f64 / 1000.0)
    );

    let singles = 2000u64;
    let t = Instant::now();
    for i in 0..singles {
        db.commit(n + 1 + i, &records[i as usize..i as usize + 1]);
    }
    let el = t.elapsed();
    println!(
        "{name}: single record/commit: {:.0} records/s ({:.3} ms/commit)",
        per_s(singles, el),
        el.as_secs_f64() * 1000.0 / singles as f64
    );
    drop(db);
    let bytes = dir_bytes(dir);
    println!(
        "{name}: on disk after close: {bytes} bytes = {:.1} bytes/delta",
        bytes as f64 / (n + singles) as f64
    );

    let t = Instant::now();
    let db = E::open(dir);
    println!("{name}: reopen: {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);

    let t = Instant::now();
    let mut last = 0;
    let count = db.scan(&mut |k, _| {
        assert!(k > last);
        last = k;
    });
    let el = t.elapsed();
    println!(
        "{name}: raw scan of {count}: {:.0} ms ({:.0} records/s)",
        el.as_secs_f64() * 1000.0,
        per_s(count, el)
    );
    let t = Instant::now();
    let mut ok = 0u64;
    db.scan(&mut |_, v| {
        if binary::decode(v).is_ok() {
            ok += 1;
        }
    });
    let el = t.elapsed();
    println!(
        "{name}: scan+decode of {ok}: {:.0} ms ({:.0} records/s)",
        el.as_secs_f64() * 1000.0,
        per_s(ok, el)
    );
    drop(db);
    let bytes = dir_bytes(dir);
    println!(
        "{name}: on disk after reopen+close: {bytes} bytes = {:.1} bytes/delta",
        bytes as f64 / (n + singles) as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let engine = args.get(1).map(String::as_str).unwrap_or("redb");
    let dir = Path::new(args.get(2).map(String::as_str).unwrap_or("/tmp/rhizome-engines"));
    let n: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    match engine {
        // Writes `n` records in 1000-record commits, then dies without
        // closing anything (as `kill -9` would): `crash-reopen` then times
        // the recovery.
        "redb-crash" => {
            let dir = dir.join("redb-crash");
            let _ = std::fs::remove_dir_all(&dir);
            let mut db = Redb::open(&dir);
            let records: Vec<Vec<u8>> = (0..n)
                .map(|i| binary::encode(&workload::delta(1, i)))
                .collect();
            let t = Instant::now();
            for (c, chunk) in records.chunks(1000).enumerate() {
                db.commit(1 + c as u64 * 1000, chunk);
            }
            println!(
                "redb (quick_repair={}): batched 1000/commit: {:.0} records/s",
                quick_repair(),
                per_s(n, t.elapsed())
            );
            std::process::abort();
        }
        "redb-crash-reopen" => {
            let t = Instant::now();
            let db = Redb::open(&dir.join("redb-crash"));
            println!(
                "redb (quick_repair={}): reopen after abort: {:.1} ms",
                quick_repair(),
                t.elapsed().as_secs_f64() * 1000.0
            );
            println!("records: {}", db.scan(&mut |_, _| {}));
        }
        "redb" => run::<Redb>("redb", &dir.join("redb"), n),
        "fjall" => run::<Fjall>("fjall", &dir.join("fjall"), n),
        other => eprintln!("unknown engine {other}"),
    }
}
