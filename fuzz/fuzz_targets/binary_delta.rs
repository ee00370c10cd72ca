//! Any bytes given to the postcard decoder (what the store and peers
//! read): no panic; what decodes re-encodes to a form that decodes to the
//! same delta.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhizome_crdt::codec::binary;

fuzz_target!(|data: &[u8]| {
    if let Ok(delta) = binary::decode(data) {
        let bytes = binary::encode(&delta);
        assert_eq!(binary::decode(&bytes).expect("output decodes"), delta);
    }
});
