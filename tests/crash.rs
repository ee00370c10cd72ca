//! A real crash: the `rhizome` binary stores deltas from 24 concurrent
//! writers and is killed with SIGKILL mid-stream. Every delta it
//! acknowledged must be there after a restart, and the store must open
//! cleanly with gap-free sequence numbers.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rhizome::changes::FeedFilter;
use rhizome::config::{Config, StorageKind};
use rhizome::node::Node;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_delta_survives_sigkill() {
    let dir = std::env::temp_dir().join(format!("rhizome-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut acked: Vec<String> = Vec::new();
    for round in 0..2u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rhizome"))
            .args(["bench", "ingest", "--writers", "24", "--batch", "1"])
            .args(["--count", "100000", "--print-acks", "--storage", "disk"])
            .args(["--seed", &(round + 1).to_string()])
            .arg("--data-dir")
            .arg(&dir)
            .env("RHIZOME_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    // Only whole lines are acknowledgements.
                    Ok(n) if n > 0 && line.ends_with(b"\n") => {
                        let id = String::from_utf8(line[..n - 1].to_vec()).unwrap();
                        if tx.send(id).is_err() {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        });
        // Let it write for a while, then kill it mid-stream.
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut this_round = 0;
        while this_round < 3000 && Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(id) => {
                    acked.push(id);
                    this_round += 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // std's Child::kill sends SIGKILL on Unix.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "the child was killed, not finished");
        reader.join().unwrap();
        // Acks already written to the pipe before the kill count too.
        acked.extend(rx.try_iter());
        assert!(this_round >= 3000, "the child acknowledged too little");

        let node = Node::start(Config::new(StorageKind::Disk, &dir))
            .await
            .unwrap();
        let missing: Vec<_> = acked
            .iter()
            .filter(|id| node.get(id).is_none())
            .take(5)
            .collect();
        assert!(missing.is_empty(), "lost acknowledged deltas: {missing:?}");
        assert_eq!(node.len() as u64, node.last_seq());
        let mut since = 0;
        let mut next = 1;
        loop {
            let page = node.changes(since, 10_000, &FeedFilter::default());
            if page.deltas.is_empty() {
                break;
            }
            for (s, _) in &page.deltas {
                assert_eq!(*s, next, "sequence numbers are gap-free");
                next += 1;
            }
            since = page.last_seq;
        }
        assert_eq!(next - 1, node.last_seq());
        node.shutdown().await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
