//! Wycheproof `json_web_signature_test.json` and `json_web_key_test.json`, every case, through
//! `verify_compact`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use token_engine::jose::Jwks;
use token_engine::{JwksOptions, KeyError, TokenError, VerifyingKey};

use super::common::{
    Exception, Expect, Outcome, Tally, arr, assert_tamper_rejected, load_json, n, no_panic, s,
    tamper_payload, tamper_signature, verify,
};

/// Why a P-521 key whose `alg` is `ES521` (not a JWS algorithm) does not import: ring has no
/// P-521 (the curve is checked first); aws-lc-rs has, and then the algorithm is unknown.
const P521_KEY_WITH_ALG_ES521: KeyError = if cfg!(any(feature = "aws-lc-rs", feature = "fips")) {
    KeyError::UnsupportedAlgorithm
} else {
    KeyError::UnsupportedCurve
};

/// The cases of `json_web_signature_test.json` whose label a strict verifier disagrees with
/// (see the vectors README), and case 17, whose input is not a string. Each is asserted to
/// behave exactly as stated here, and each must occur in the file.
const JWS_EXCEPTIONS: &[Exception] = &[
    Exception {
        tc_id: 17,
        expect: Expect::Token(TokenError::Malformed),
        why: "labelled invalid; its `jws` is a JSON-serialization object, not a string: fed as \
              its JSON text, the compact-only parser finds no three segments",
    },
    Exception {
        tc_id: 346,
        expect: Expect::Token(TokenError::AlgorithmMismatch),
        why: "labelled valid; RFC 7520 Figure 20 is signed PS384 but the group's key says \
              alg PS256: the key pins its algorithm, the header cannot change it",
    },
    Exception {
        tc_id: 347,
        expect: Expect::Key(P521_KEY_WITH_ALG_ES521),
        why: "labelled valid; RFC 7520 Figure 27 (ES512) with a key of alg `ES521`, crv P-521: \
              no such algorithm (and with ring, no P-521 curve), so the key does not import",
    },
    Exception {
        tc_id: 350,
        expect: Expect::Token(TokenError::AlgorithmMismatch),
        why: "labelled valid; as 346 (key alg PS256, header PS384), key with key_ops [verify]",
    },
    Exception {
        tc_id: 351,
        expect: Expect::Key(P521_KEY_WITH_ALG_ES521),
        why: "labelled valid; as 347 (ES521/P-521 key), key with key_ops [verify]",
    },
    Exception {
        tc_id: 367,
        expect: Expect::Accept,
        why: "labelled invalid, but byte-identical to tcId 357 (labelled valid; open upstream \
              issue): identical input, identical verdict",
    },
    Exception {
        tc_id: 370,
        expect: Expect::Accept,
        why: "labelled invalid, but byte-identical to tcId 357 (labelled valid), as 367",
    },
    Exception {
        tc_id: 372,
        expect: Expect::Token(TokenError::Base64),
        why: "labelled valid, but has `?` inside the header segment: strict base64url rejects it",
    },
    Exception {
        tc_id: 373,
        expect: Expect::Token(TokenError::InvalidSignature),
        why: "labelled valid, but has `?` appended to the payload segment, and its MAC is over \
              the text without it: the MAC is checked over the segments as sent (before the \
              payload is decoded, which would fail as Base64), so it does not match",
    },
];

/// The case of `json_web_key_test.json` whose label the engine disagrees with.
const JWK_EXCEPTIONS: &[Exception] = &[Exception {
    tc_id: 7,
    expect: Expect::Accept,
    why: "labelled invalid: a 2048-bit RSA key with the ROCA weakness (CVE-2017-15361). \
          Detecting it needs a fingerprint test that neither ring nor this crate runs; the key \
          imports and its signature verifies",
}];

/// Check one case against its label or, for an exception, against the exception.
fn check_case(
    file: &str,
    exceptions: &[Exception],
    seen: &mut BTreeSet<u64>,
    tally: &mut Tally,
    test: &Value,
    outcome: &Outcome,
) {
    let tc_id = n(test, "tcId");
    let result = s(test, "result");
    if let Some(exception) = exceptions.iter().find(|e| e.tc_id == tc_id) {
        assert_eq!(
            outcome.kind(),
            exception.expect,
            "{file} tcId {tc_id} (labelled {result}) no longer behaves as its exception says: {}",
            exception.why
        );
        tally.exceptions += 1;
        seen.insert(tc_id);
        return;
    }
    match result {
        "valid" => assert!(
            outcome.accepted(),
            "{file} tcId {tc_id} ({}) is valid but was rejected: {outcome:?}",
            s(test, "comment")
        ),
        "invalid" => assert!(
            !outcome.accepted(),
            "{file} tcId {tc_id} ({}) is invalid but was accepted",
            s(test, "comment")
        ),
        "acceptable" => {}
        other => panic!("{file} tcId {tc_id}: unknown result {other:?}"),
    }
}

/// Every exception must have been met (so the list cannot silently rot).
fn assert_all_seen(file: &str, exceptions: &[Exception], seen: &BTreeSet<u64>) {
    for e in exceptions {
        assert!(
            seen.contains(&e.tc_id),
            "{file}: exception tcId {} does not occur in the file",
            e.tc_id
        );
    }
}

/// The token text of a case: a string, or for a JSON-serialized JWS (tcId 17) its JSON text.
fn token_text(test: &Value) -> String {
    match &test["jws"] {
        Value::String(t) => t.clone(),
        other => other.to_string(),
    }
}

#[test]
fn wycheproof_jws_all_cases() {
    let file = "json_web_signature_test.json";
    let doc = load_json(&format!("wycheproof/{file}"));
    let mut tally = Tally::default();
    let mut seen = BTreeSet::new();
    let mut tokens = BTreeMap::new();
    for group in arr(&doc, "testGroups") {
        // The group's public JWK, else its private (oct) JWK.
        let jwk = if group["public"].is_object() {
            &group["public"]
        } else {
            &group["private"]
        };
        let key = no_panic(format!("{file} group key {jwk}"), || {
            VerifyingKey::from_jwk(&jwk.to_string())
        });
        for test in arr(group, "tests") {
            let tc_id = n(test, "tcId");
            let case = format!("{file} tcId {tc_id}");
            let token = token_text(test);
            let outcome = match &key {
                Ok(key) => verify(&*case, &token, std::slice::from_ref(key)),
                Err(e) => Outcome::Key(*e),
            };
            check_case(file, JWS_EXCEPTIONS, &mut seen, &mut tally, test, &outcome);
            tally.record(outcome.accepted(), matches!(outcome, Outcome::Key(_)));
            if let Ok(key) = &key {
                if outcome.accepted() {
                    tally.tampered +=
                        assert_tamper_rejected(&*case, &token, std::slice::from_ref(key));
                } else if s(test, "result") == "valid" {
                    // A valid case the engine rejects (an exception): tampering cannot make
                    // it pass either.
                    for t in [tamper_signature(&token), tamper_payload(&token)] {
                        assert!(
                            !verify(&*case, &t, std::slice::from_ref(key)).accepted(),
                            "{case}"
                        );
                        tally.tampered += 1;
                    }
                }
            }
            tokens.insert(tc_id, token);
        }
    }
    tally.report(file);
    assert_all_seen(file, JWS_EXCEPTIONS, &seen);
    // 357, 367 and 370 are the same bytes: that is what justifies accepting all three.
    assert_eq!(tokens[&367], tokens[&357]);
    assert_eq!(tokens[&370], tokens[&357]);
    assert_eq!(tally.total as u64, n(&doc, "numberOfTests"));
    // The count of accepted cases: every valid case but the six valid-labelled exceptions
    // (346, 347, 350, 351, 372, 373), plus 367 and 370.
    let valid = count_result(&doc, "valid");
    assert_eq!(tally.accepted, valid - 6 + 2);
}

#[test]
fn wycheproof_jwk_all_cases() {
    let file = "json_web_key_test.json";
    let doc = load_json(&format!("wycheproof/{file}"));
    let mut tally = Tally::default();
    let mut seen = BTreeSet::new();
    for group in arr(&doc, "testGroups") {
        // The group's public key set if present, else its private one.
        let set = if group["public"].is_object() {
            &group["public"]
        } else {
            &group["private"]
        };
        let jwks = no_panic(format!("{file} group set {set}"), || {
            // Its HMAC cases need secret keys in a set, which an application must opt into.
            Jwks::parse(
                &set.to_string(),
                &JwksOptions::default().danger_allow_secret_keys(),
            )
        });
        for test in arr(group, "tests") {
            let tc_id = n(test, "tcId");
            let case = format!("{file} tcId {tc_id}");
            let token = token_text(test);
            let outcome = match &jwks {
                Ok(jwks) => verify(&*case, &token, &jwks.keys),
                Err(e) => Outcome::Key(*e),
            };
            let skipped: Vec<KeyError> = match &jwks {
                Ok(jwks) => jwks.skipped.iter().map(|k| k.reason).collect(),
                Err(_) => Vec::new(),
            };
            eprintln!(
                "  {case} [{}] {}: {:?}{}",
                s(test, "result"),
                s(test, "comment"),
                outcome.kind(),
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" (keys skipped: {skipped:?})")
                }
            );
            check_case(file, JWK_EXCEPTIONS, &mut seen, &mut tally, test, &outcome);
            tally.record(outcome.accepted(), matches!(outcome, Outcome::Key(_)));
            if let (Ok(jwks), true) = (&jwks, outcome.accepted()) {
                tally.tampered += assert_tamper_rejected(&*case, &token, &jwks.keys);
            }
        }
    }
    tally.report(file);
    assert_all_seen(file, JWK_EXCEPTIONS, &seen);
    assert_eq!(tally.total as u64, n(&doc, "numberOfTests"));
    assert_eq!(tally.accepted, count_result(&doc, "valid") + 1);
}

fn count_result(doc: &Value, result: &str) -> usize {
    arr(doc, "testGroups")
        .iter()
        .flat_map(|g| arr(g, "tests"))
        .filter(|t| s(t, "result") == result)
        .count()
}
