use std::sync::Arc;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Change, ObjType, ROOT, ReadDoc};
use serde_json::json;

use super::*;
use crate::{Delta, DeltaSet, Timestamp};

/// A text document and one change per edit, each with its own time (s).
fn typed(text: &str, start: i64) -> (AutoCommit, Vec<Change>) {
    let mut am = AutoCommit::new();
    let obj = am.put_object(ROOT, "text", ObjType::Text).unwrap();
    am.commit_with(automerge::transaction::CommitOptions::default().with_time(start));
    let mut changes = vec![am.get_last_local_change().unwrap()];
    for (i, ch) in text.chars().enumerate() {
        am.splice_text(&obj, i, 0, &ch.to_string()).unwrap();
        am.commit_with(
            automerge::transaction::CommitOptions::default().with_time(start + 1 + i as i64),
        );
        changes.push(am.get_last_local_change().unwrap());
    }
    (am, changes)
}

fn deltas(changes: &[Change]) -> Vec<Arc<Delta>> {
    changes
        .iter()
        .map(|c| Arc::new(change_delta("doc", "body", c, "alice").unwrap()))
        .collect()
}

fn text_of(set: &DeltaSet, as_of: Option<Timestamp>) -> Option<String> {
    let doc = Document::of_property(set, "doc", "body", as_of)?;
    Some(doc.json()["text"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn the_same_change_makes_the_same_delta() {
    let (_, changes) = typed("ab", 1_700_000_000);
    let a = change_delta("doc", "body", &changes[1], "alice").unwrap();
    let b = change_delta("doc", "body", &changes[1].clone(), "alice").unwrap();
    assert!(a.same_content(&b));
    assert_eq!(a.time_created().as_millis(), 1_700_000_001_000);
    assert_eq!(a.host(), changes[1].actor_id().to_hex_string());
    // Another document: another id.
    let c = change_delta("doc", "title", &changes[1], "alice").unwrap();
    assert_ne!(a.id(), c.id());
    let mut set = DeltaSet::new();
    set.insert(a).unwrap();
    assert_eq!(set.insert(b).unwrap().duplicates.len(), 1);
}

#[test]
fn a_change_without_time_is_timeless() {
    let mut am = AutoCommit::new();
    am.put(ROOT, "k", 1).unwrap();
    let change = am.get_last_local_change().unwrap();
    assert_eq!(change.timestamp(), 0);
    let d = change_delta("doc", "body", &change, "alice").unwrap();
    assert_eq!(d.time_created().as_millis(), TIMELESS_MS);
}

const TIMELESS_MS: u64 = form::TIMELESS;

#[test]
fn arrival_order_does_not_matter_and_missing_dependencies_wait() {
    let (mut am, changes) = typed("hello", 1_700_000_000);
    let all = deltas(&changes);
    let mut set = DeltaSet::new();
    // Everything but the second change: the rest waits on it.
    for (i, d) in all.iter().enumerate().rev() {
        if i != 1 {
            set.insert(Arc::clone(d)).unwrap();
        }
    }
    let doc = Document::of_property(&set, "doc", "body", None).unwrap();
    assert_eq!(doc.json(), json!({"text": ""}));
    assert_eq!(doc.missing_deps(), vec![changes[1].hash()]);
    set.insert(Arc::clone(&all[1])).unwrap();
    assert_eq!(text_of(&set, None).as_deref(), Some("hello"));
    let doc = Document::of_property(&set, "doc", "body", None).unwrap();
    assert_eq!(doc.heads(), am.get_heads());
}

#[test]
fn negating_a_change_removes_it_and_what_depends_on_it() {
    let (_, changes) = typed("abcd", 1_700_000_000);
    let all = deltas(&changes);
    let mut set = DeltaSet::new();
    set.insert_batch(all.iter().cloned()).unwrap();
    // Negate the change that typed "c": "d" depends on it.
    let negation = Delta::builder("bob", "h")
        .id("n1")
        .timestamp(1_700_000_100_000)
        .negate(all[3].id().as_str())
        .build()
        .unwrap();
    set.insert(negation).unwrap();
    assert_eq!(text_of(&set, None).as_deref(), Some("ab"));
    // Before the negation, everything.
    let before = Timestamp::new(1_700_000_050_000).unwrap();
    assert_eq!(text_of(&set, Some(before)).as_deref(), Some("abcd"));
    // Double negation restores it.
    let again = Delta::builder("bob", "h")
        .id("n2")
        .timestamp(1_700_000_200_000)
        .negate("n1")
        .build()
        .unwrap();
    set.insert(again).unwrap();
    assert_eq!(text_of(&set, None).as_deref(), Some("abcd"));
}

#[test]
fn time_travel_sees_the_document_as_it_was() {
    let (_, changes) = typed("abcd", 1_700_000_000);
    let mut set = DeltaSet::new();
    set.insert_batch(deltas(&changes)).unwrap();
    // Change i (i >= 1) typed char i-1 at second start + i.
    let t = |s: u64| Some(Timestamp::new(s * 1000).unwrap());
    assert_eq!(text_of(&set, t(1_700_000_002)).as_deref(), Some("ab"));
    assert_eq!(text_of(&set, t(1_699_999_999)), None);
}

#[test]
fn concurrent_edits_merge() {
    let (mut a, changes) = typed("base", 1_700_000_000);
    let mut b = a.fork();
    let text_a = a.get(ROOT, "text").unwrap().unwrap().1;
    a.splice_text(&text_a, 0, 0, "A").unwrap();
    a.commit();
    b.splice_text(&text_a, 4, 0, "B").unwrap();
    b.commit();
    let mut set = DeltaSet::new();
    set.insert_batch(deltas(&changes)).unwrap();
    set.insert_batch(deltas(&[a.get_last_local_change().unwrap()]))
        .unwrap();
    set.insert_batch(deltas(&[b.get_last_local_change().unwrap()]))
        .unwrap();
    a.merge(&mut b).unwrap();
    assert_eq!(text_of(&set, None).unwrap(), a.text(&text_a).unwrap());
    assert_eq!(text_of(&set, None).unwrap(), "AbaseB");
}

#[test]
fn the_cache_updates_incrementally_and_rebuilds_after_a_negation() {
    let (_, changes) = typed("abc", 1_700_000_000);
    let all = deltas(&changes);
    let mut set = DeltaSet::new();
    let mut cache = DocumentCache::new(4);
    assert!(cache.get(&set, "doc", "body").is_none());
    for d in &all {
        let ins = set.insert(Arc::clone(d)).unwrap();
        cache.note(std::slice::from_ref(d), &ins.changed);
        cache.get(&set, "doc", "body").unwrap();
    }
    assert_eq!(cache.builds, 1);
    assert_eq!(
        cache.get(&set, "doc", "body").unwrap().json(),
        json!({"text": "abc"})
    );
    let neg = Arc::new(
        Delta::builder("bob", "h")
            .id("n1")
            .timestamp(1_700_000_100_000)
            .negate(all[2].id().as_str())
            .build()
            .unwrap(),
    );
    let ins = set.insert(Arc::clone(&neg)).unwrap();
    cache.note(&[neg], &ins.changed);
    assert_eq!(
        cache.get(&set, "doc", "body").unwrap().json(),
        json!({"text": "a"})
    );
    assert_eq!(cache.builds, 2);
}

#[test]
fn the_cache_is_bounded() {
    let (_, changes) = typed("a", 1_700_000_000);
    let mut set = DeltaSet::new();
    for p in ["p1", "p2", "p3"] {
        for c in &changes {
            set.insert(change_delta("doc", p, c, "alice").unwrap())
                .unwrap();
        }
    }
    let mut cache = DocumentCache::new(2);
    for p in ["p1", "p2", "p3", "p1"] {
        assert!(cache.get(&set, "doc", p).is_some());
    }
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.builds, 4);
    assert!(cache.approx_bytes() > 0);
}

#[test]
fn bad_bytes_are_refused_whole() {
    let (am, changes) = typed("ab", 1_700_000_000);
    let saved = am.clone().save();
    assert_eq!(parse_changes(&saved).unwrap().len(), changes.len());
    let mut both = changes[0].raw_bytes().to_vec();
    both.extend_from_slice(changes[1].raw_bytes());
    assert_eq!(parse_changes(&both).unwrap().len(), 2);
    for bad in [
        &b""[..],
        &b"not automerge at all"[..],
        &saved[..saved.len() / 2],
        &both[..both.len() - 3],
    ] {
        assert!(
            matches!(parse_changes(bad), Err(crate::Error::InvalidAutomerge(_))),
            "{bad:?}"
        );
    }
    let mut trailing = both.clone();
    trailing.push(0);
    assert!(parse_changes(&trailing).is_err());
    let mut corrupt = both.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert!(parse_changes(&corrupt).is_err());
}

#[test]
fn a_delta_with_bytes_that_are_not_a_change_is_left_out() {
    let (_, changes) = typed("ab", 1_700_000_000);
    let mut set = DeltaSet::new();
    set.insert_batch(deltas(&changes)).unwrap();
    let junk = Delta::builder("mallory", "h")
        .id("junk")
        .timestamp(1_700_000_000_000u64)
        .pointer(DOCUMENT_ROLE, crate::Target::reference("doc", "body"))
        .pointer(CHANGE_ROLE, "AAAA")
        .build()
        .unwrap();
    set.insert(junk).unwrap();
    let doc = Document::of_property(&set, "doc", "body", None).unwrap();
    assert_eq!(doc.json(), json!({"text": "ab"}));
    assert_eq!(doc.invalid_count(), 1);
}

#[test]
fn changes_since_heads_are_only_what_is_lacking() {
    let (am, changes) = typed("abcdef", 1_700_000_000);
    let doc = {
        let mut d = Document::new();
        d.apply_changes(changes.clone());
        d
    };
    let since = doc.changes_since(&[changes[3].hash()]);
    let got = parse_changes(&since).unwrap();
    assert_eq!(got.len(), changes.len() - 4);
    assert!(doc.changes_since(&am.clone().get_heads()).is_empty());
    // Unknown heads are ignored: everything.
    let unknown = automerge::ChangeHash([9; 32]);
    assert_eq!(
        parse_changes(&doc.changes_since(&[unknown])).unwrap().len(),
        changes.len()
    );
}

#[test]
fn view_value_is_the_documents_json() {
    let (_, changes) = typed("hi", 1_700_000_000);
    assert_eq!(view_value(&deltas(&changes)), Some(json!({"text": "hi"})));
    assert_eq!(view_value(&[]), None);
}
