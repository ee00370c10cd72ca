//! Any bytes given to the JSON decoder: no panic; what decodes re-encodes
//! in v1 and decodes to the same delta.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhizome_crdt::codec::{Format, json};

fuzz_target!(|data: &[u8]| {
    if let Ok(delta) = json::decode(data) {
        let v1 = json::encode(&delta, Format::V1).expect("v1 expresses every delta");
        assert_eq!(json::decode(&v1).expect("v1 output decodes"), delta);
        for format in [Format::V2, Format::RhizomeDb] {
            if let Ok(out) = json::encode(&delta, format) {
                assert_eq!(json::decode(&out).expect("output decodes"), delta);
            }
        }
    }
});
