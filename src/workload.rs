//! The reference workload: deterministic deltas of the shape benchmarks and
//! load tests use (DESIGN.md § Storage).
//!
//! Delta `i` of a stream with `seed` sets property `pK` of entity `eN` to an
//! 8-character string or an integer: pointers `entity → eN` (context `pK`)
//! and `pK → value`, `timeCreated = 1,600,000,000,000 + i`, a 36-character
//! uuid-shaped id that depends on `(seed, i)` only.
//!
//! ```
//! let a = rhizome::workload::delta(7, 0);
//! assert_eq!(a, rhizome::workload::delta(7, 0));
//! assert_ne!(a.id(), rhizome::workload::delta(8, 0).id());
//! ```

use rhizome_crdt::{Delta, DeltaId, Pointer, Target, Timestamp};

/// Entities in the reference workload.
pub const ENTITIES: u64 = 10_000;
/// Properties per entity.
pub const PROPERTIES: u64 = 8;
/// The timestamp of delta 0.
pub const EPOCH_MS: u64 = 1_600_000_000_000;

/// splitmix64: a fast, well-mixed 64-bit hash.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The id of delta `i` of stream `seed`: uuid-shaped, 36 characters.
pub fn id(seed: u64, i: u64) -> String {
    let a = mix(seed.wrapping_mul(0x1000_0000_01b3) ^ i);
    let b = mix(a ^ i.rotate_left(17));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// Delta `i` of the reference workload stream `seed`.
pub fn delta(seed: u64, i: u64) -> Delta {
    let h = mix(seed ^ mix(i));
    let entity = format!("e{}", h % ENTITIES);
    let property = format!("p{}", (h >> 20) % PROPERTIES);
    let value: Target = if (h >> 40) & 1 == 0 {
        let v = h >> 24;
        let s: String = (0..8)
            .map(|k| char::from(b'a' + ((v >> (k * 5)) % 26) as u8))
            .collect();
        Target::from(s)
    } else {
        Target::from(((h >> 24) % 1_000_000) as i64)
    };
    let pointers = vec![
        Pointer::new("entity", Target::reference(entity, property.as_str())),
        Pointer::new(property, value),
    ];
    // Every part is valid by construction: a non-empty id of 36 bytes, a
    // timestamp far below the limit, non-empty names.
    match (DeltaId::new(id(seed, i)), Timestamp::new(EPOCH_MS + i)) {
        (Ok(id), Ok(ts)) => match Delta::new(id, ts, "node-a", "alice", pointers) {
            Ok(d) => d,
            Err(e) => unreachable!("reference delta is valid: {e}"),
        },
        _ => unreachable!("reference id and timestamp are valid"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_uuid_shaped() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|i| id(1, i)).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.len() == 36));
    }

    #[test]
    fn deltas_have_the_reference_shape() {
        let d = delta(3, 42);
        assert_eq!(d.time_created().as_millis(), EPOCH_MS + 42);
        let (entity, ctx) = d.references().next().unwrap();
        assert!(entity.starts_with('e'));
        let prop = ctx.unwrap();
        assert!(d.value_for(entity, prop).is_some());
    }
}
