//! The reference workload: a deterministic stream of deltas for benchmarks
//! and tests, the same on every machine.
//!
//! Delta `i` sets one property `pK` (of `properties`) of one entity `eN` (of
//! `entities`), both drawn by a 64-bit LCG, to a random 8-character string or
//! integer; its `timeCreated` is `1_600_000_000_000 + i`, its pointers are
//! `entity → Reference(eN, pK)` and `pK → value`.
//!
//! ```
//! use rhizome_crdt::workload::Workload;
//!
//! let w = Workload::default();
//! let deltas: Vec<_> = w.deltas(0..3).collect();
//! assert_eq!(deltas.len(), 3);
//! assert_eq!(deltas[1].time_created().as_millis(), 1_600_000_000_001);
//! assert_eq!(deltas, w.deltas(0..3).collect::<Vec<_>>());
//! ```

use std::ops::Range;

use crate::{Delta, DeltaId, Pointer, Target, Timestamp, roles};

/// The first `timeCreated` of the workload.
pub const START: u64 = 1_600_000_000_000;

/// Parameters of the reference workload. Default: 1,000 entities, 5
/// properties, seed 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Entities `e0 .. e{entities-1}`.
    pub entities: u64,
    /// Properties `p0 .. p{properties-1}`.
    pub properties: u64,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            entities: 1_000,
            properties: 5,
            seed: 0,
        }
    }
}

/// Knuth's MMIX LCG step.
fn lcg(x: u64) -> u64 {
    x.wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407)
}

impl Workload {
    /// The default workload (1,000 entities, 5 properties) with another seed.
    pub fn seeded(seed: u64) -> Workload {
        Workload {
            seed,
            ..Workload::default()
        }
    }

    /// Three pseudo-random numbers for delta `i` (a function of seed and `i`
    /// only, so any range of the stream can be generated on its own).
    fn draws(&self, i: u64) -> [u64; 3] {
        let mut x = lcg(self.seed ^ lcg(i.wrapping_add(0x9e37_79b9_7f4a_7c15)));
        let mut out = [0; 3];
        for o in &mut out {
            x = lcg(x);
            *o = x >> 11;
        }
        out
    }

    /// The id of delta `i`.
    pub fn id(&self, i: u64) -> DeltaId {
        DeltaId::new(format!("w{}-{i:08}", self.seed))
            .expect("workload ids are short and non-empty")
    }

    /// The entity delta `i` is about.
    pub fn entity_of(&self, i: u64) -> String {
        format!("e{}", self.draws(i)[0] % self.entities.max(1))
    }

    /// Delta `i` of the stream.
    pub fn delta(&self, i: u64) -> Delta {
        let [e, p, v] = self.draws(i);
        let entity = format!("e{}", e % self.entities.max(1));
        let prop = format!("p{}", p % self.properties.max(1));
        let value = if v % 2 == 0 {
            let s: String = (0..8)
                .map(|k| char::from(b'a' + ((v >> (5 * k + 1)) % 26) as u8))
                .collect();
            Target::from(s)
        } else {
            Target::from((v >> 1) as i64 % 1_000_000)
        };
        let pointers = vec![
            Pointer::new(roles::ENTITY, Target::reference(entity, prop.clone())),
            Pointer::new(prop, value),
        ];
        self.build(self.id(i), i, pointers)
    }

    /// Deltas `range` of the stream.
    pub fn deltas(&self, range: Range<u64>) -> impl Iterator<Item = Delta> + '_ {
        range.map(|i| self.delta(i))
    }

    /// A negation of `target`, made as delta `i` of the stream (its id and
    /// timestamp are those of position `i`).
    pub fn negation(&self, i: u64, target: &DeltaId) -> Delta {
        let pointers = vec![Pointer::new(
            roles::NEGATES,
            Target::reference(target.as_arc().clone(), roles::NEGATED_BY),
        )];
        let id = DeltaId::new(format!("n{}-{i:08}", self.seed))
            .expect("workload ids are short and non-empty");
        self.build(id, i, pointers)
    }

    /// Deltas `0..n` followed by negations of every 10th of them and
    /// negations of every 100th negation: 10% of the deltas negated, 1% of
    /// those negations negated. Negations are timestamped after all the data.
    pub fn with_negations(&self, n: u64) -> Vec<Delta> {
        let mut out: Vec<Delta> = self.deltas(0..n).collect();
        let mut next = n;
        for (negations, i) in (0..n).step_by(10).enumerate() {
            let neg = self.negation(next, &self.id(i));
            next += 1;
            if negations.is_multiple_of(100) {
                out.push(self.negation(next, neg.id()));
                next += 1;
            }
            out.push(neg);
        }
        out
    }

    fn build(&self, id: DeltaId, i: u64, pointers: Vec<Pointer>) -> Delta {
        let time = Timestamp::new(START + i).unwrap_or(Timestamp::MAX);
        Delta::new(id, time, "bench-host", "bench", pointers)
            .expect("the workload builds valid deltas")
    }
}
