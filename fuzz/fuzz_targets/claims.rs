//! Claims parsing and validation on an arbitrary decoded payload.
//!
//! `__private::validate_claims` (one-pass parse, then the fixed rules: issuer `https://as`,
//! audience `https://api`, the RFC 9068 required claims, 30 s leeway) must not panic. Claims it
//! accepts obey the rules: `iss == "https://as"`, `aud` names `https://api`, `exp` is present
//! and `NOW < exp + 30`, `iat` and `nbf` (when present) are at most `NOW + 30`, and the other
//! required claims are present. Accepted claims serialize (serde_json) to a payload that is
//! accepted again with the same registered claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use token_engine::{__private, AccessTokenClaims};

const NOW: i64 = 1_714_768_000;
const LEEWAY: i64 = 30;

fn check_rules(c: &AccessTokenClaims<'_, serde_json::Value>) {
    assert_eq!(c.iss.as_deref(), Some("https://as"));
    assert!(
        c.aud.as_ref().is_some_and(|a| a.contains("https://api")),
        "aud {:?}",
        c.aud
    );
    let exp = c.exp.expect("exp is required");
    assert!(NOW < exp.saturating_add(LEEWAY), "expired: exp {exp}");
    assert!(
        c.iat.is_none_or(|iat| iat <= NOW + LEEWAY),
        "iat {:?}",
        c.iat
    );
    assert!(
        c.nbf.is_none_or(|nbf| nbf <= NOW + LEEWAY),
        "nbf {:?}",
        c.nbf
    );
    // The rest of the RFC 9068 set the rules require.
    let required = [
        c.sub.is_some(),
        c.iat.is_some(),
        c.jti.is_some(),
        c.client_id.is_some(),
    ];
    assert!(
        required.iter().all(|&p| p),
        "required claim missing: {required:?}"
    );
}

/// Everything but the custom claims (whose floats may not survive a serde_json round trip).
fn registered<'c>(
    c: &'c AccessTokenClaims<'_, serde_json::Value>,
) -> impl PartialEq + core::fmt::Debug + 'c {
    (
        (&c.iss, &c.sub, &c.aud, c.exp, c.nbf, c.iat, &c.jti),
        (&c.client_id, &c.scope, c.auth_time, &c.sid, c.pv, &c.cnf),
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(claims) = __private::validate_claims(data, NOW) else {
        return;
    };
    check_rules(&claims);
    let json = serde_json::to_vec(&claims).expect("accepted claims serialize");
    let again = __private::validate_claims(&json, NOW).unwrap_or_else(|e| {
        panic!(
            "re-serialized claims rejected: {e:?}: {}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(registered(&again), registered(&claims));
});
