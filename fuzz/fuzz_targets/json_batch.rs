//! Any bytes given to the batch decoder (`POST /api/deltas` bodies): no
//! panic; an error names an index inside the batch when it has one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhizome_crdt::codec::json;

fuzz_target!(|data: &[u8]| {
    match json::decode_batch(data) {
        Ok(deltas) => {
            for d in &deltas {
                let _ = json::encode(d, rhizome_crdt::codec::Format::V1);
            }
        }
        Err(e) => {
            let _ = (e.batch_index(), e.field(), e.to_string());
        }
    }
});
