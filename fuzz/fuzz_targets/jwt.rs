//! Any string as a bearer token, in both authentication modes: no panic,
//! and nothing but the one real token authenticates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rhizome::auth::jwt::{Hs256, sign_hs256};
use rhizome::auth::tokens::TokenTable;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let now = std::time::SystemTime::now();
    let key = Hs256::new(b"fuzz secret");
    let real = sign_hs256(b"fuzz secret", &serde_json::json!({"sub": "a"}));
    if key.verify(token, now).is_ok() {
        assert_eq!(token, real, "only the real token verifies");
    }
    let table = TokenTable::from_json(r#"[{"token": "t0k", "principal": "a", "scopes": ["read"]}]"#)
        .expect("a valid table");
    if table.lookup(token).is_ok() {
        assert_eq!(token, "t0k");
    }
});
