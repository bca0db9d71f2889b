//! Wire types of `token_engine::response`.
//!
//! The first byte picks the mode:
//! - `ErrorResponse` from arbitrary JSON: if it deserializes, it serializes and deserializes
//!   again to an equal value, and its HTTP status is 400, 401 or 500.
//! - `ErrorResponse::from_error` for an error chosen by the input: the JSON has a known OAuth
//!   `error` code (the one `Error::oauth_code` names) and a string `error_description`, and
//!   nothing else.
//! - `TokenResponse` from arbitrary strings and numbers (`RefreshToken::from_string`): the
//!   JSON is an object with exactly the expected keys and the same values.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use token_engine::{
    Claim, Error, ErrorResponse, GrantError, KeyError, RefreshToken, TokenError, TokenResponse,
    TokenType,
};

const CODES: [&str; 7] = [
    "invalid_grant",
    "invalid_scope",
    "invalid_token",
    "invalid_request",
    "invalid_client",
    "unauthorized_client",
    "server_error",
];

static TOKEN_ERRORS: LazyLock<Vec<TokenError>> = LazyLock::new(|| {
    use TokenError::*;
    vec![
        TooLong,
        Malformed,
        Base64,
        Header,
        DuplicateHeader,
        AlgNone,
        UnsupportedAlgorithm,
        AlgorithmMismatch,
        MissingKeyId,
        UnknownKeyId,
        CriticalHeader,
        EmbeddedKey,
        WrongType,
        InvalidSignature,
        Claims,
        DuplicateClaim,
        MissingClaim(Claim::Exp),
        MissingClaim(Claim::Sid),
        Expired,
        NotYetValid,
        IssuedInFuture,
        Issuer,
        Audience,
        SessionRevoked,
        PolicyStale,
    ]
});

static GRANT_ERRORS: [GrantError; 8] = [
    GrantError::MalformedToken,
    GrantError::InvalidTag,
    GrantError::UnknownFamily,
    GrantError::Revoked,
    GrantError::IdleExpired,
    GrantError::AbsoluteExpired,
    GrantError::GenerationAhead,
    GrantError::Contention,
];

static KEY_ERRORS: [KeyError; 6] = [
    KeyError::Pem,
    KeyError::Der,
    KeyError::JwkFormat,
    KeyError::MixedKeySet,
    KeyError::TooLarge,
    KeyError::Unsupported,
];

fn error(sel: u8, text: &str) -> Error {
    let i = usize::from(sel >> 4);
    match sel & 15 {
        0 => Error::InvalidToken(TOKEN_ERRORS[usize::from(sel >> 3) % TOKEN_ERRORS.len()]),
        1 => Error::Key(KEY_ERRORS[i % KEY_ERRORS.len()]),
        2 => Error::Config("fuzz"),
        3 => Error::Crypto("fuzz"),
        4 => Error::Serialize(text.to_owned()),
        5 => Error::InvalidGrant(GRANT_ERRORS[i % GRANT_ERRORS.len()]),
        6 => Error::ReuseDetected,
        7 => Error::ReauthenticationRequired,
        8 => Error::InvalidScope,
        9 => Error::InvalidRequest("fuzz"),
        10 => Error::UnauthorizedClient,
        _ => Error::Store(Box::new(std::io::Error::other(text.to_owned()))),
    }
}

fn error_json(data: &[u8]) {
    let Ok(parsed) = serde_json::from_slice::<ErrorResponse>(data) else {
        return;
    };
    assert!(matches!(parsed.http_status(), 400 | 401 | 500));
    let json = serde_json::to_vec(&parsed).expect("serialize");
    let again: ErrorResponse = serde_json::from_slice(&json).expect("re-parse");
    assert_eq!(again, parsed);
}

fn from_error(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let e = error(sel, &String::from_utf8_lossy(rest));
    let r = ErrorResponse::from_error(&e);
    assert_eq!(r, ErrorResponse::from(&e));
    let v: Value = serde_json::to_value(&r).expect("serialize");
    let obj = v.as_object().expect("an object");
    let code = obj
        .get("error")
        .and_then(Value::as_str)
        .expect("error is a string");
    assert!(CODES.contains(&code), "unknown code {code}");
    assert_eq!(code, e.oauth_code());
    assert!(obj.get("error_description").is_some_and(Value::is_string));
    assert_eq!(obj.len(), 2, "{obj:?}");
    let status = match code {
        "invalid_client" | "invalid_token" => 401,
        "server_error" => 500,
        _ => 400,
    };
    assert_eq!(r.http_status(), status);
}

fn token_response(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (num, rest) = rest.split_at(rest.len().min(8));
    let mut n = [0u8; 8];
    n[..num.len()].copy_from_slice(num);
    let expires_in = u64::from_le_bytes(n);
    let text = String::from_utf8_lossy(rest);
    let mut fields = text.split('\u{0}');
    let access = fields.next().unwrap_or_default().to_owned();
    let refresh = (flags & 2 != 0).then(|| fields.next().unwrap_or_default().to_owned());
    let scope = (flags & 4 != 0).then(|| fields.next().unwrap_or_default().to_owned());
    let token_type = if flags & 1 == 0 {
        TokenType::Bearer
    } else {
        TokenType::DPoP
    };
    let r = TokenResponse {
        access_token: access.clone(),
        token_type,
        expires_in,
        refresh_token: refresh.clone().map(RefreshToken::from_string),
        scope: scope.clone(),
        id_token: None,
        issued_token_type: None,
    };
    // Debug redacts both tokens: it is exactly this, whatever they hold.
    let rt_debug = if refresh.is_some() {
        "Some(RefreshToken([redacted]))"
    } else {
        "None"
    };
    let expected_debug = format!(
        "TokenResponse {{ access_token: \"[redacted]\", token_type: {token_type:?}, \
         expires_in: {expires_in}, refresh_token: {rt_debug}, scope: {scope:?}, \
         id_token: None, issued_token_type: None }}"
    );
    assert_eq!(format!("{r:?}"), expected_debug);
    let json = serde_json::to_string(&r).expect("serialize");
    let v: Value = serde_json::from_str(&json).expect("valid JSON");
    let mut expected = Map::new();
    expected.insert("access_token".into(), Value::String(access));
    let tt = if flags & 1 == 0 { "Bearer" } else { "DPoP" };
    expected.insert("token_type".into(), Value::String(tt.into()));
    expected.insert("expires_in".into(), Value::from(expires_in));
    if let Some(rt) = refresh {
        expected.insert("refresh_token".into(), Value::String(rt));
    }
    if let Some(s) = scope {
        expected.insert("scope".into(), Value::String(s));
    }
    assert_eq!(v, Value::Object(expected), "{json}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => error_json(rest),
        1 => from_error(rest),
        _ => token_response(rest),
    }
});
