//! The JOSE layer: algorithms, keys, JWK/JWKS, compact JWS, claims and validation rules.
//! Submodules are private; what is public is re-exported here and at the crate root.

mod alg;
mod b64;
mod claims;
mod der;
mod header;
mod json;
mod jwk;
mod jws;
mod jwt;
mod key;
mod pem;
mod validation;

pub use alg::Algorithm;
pub use claims::{AccessTokenClaims, Audience, Confirmation, NoCustomClaims};
pub(crate) use jwk::proof_key;
pub use jwk::{Jwk, JwkSet, Jwks, JwksOptions, SkippedKey};
pub use jws::{sign_compact, verify_compact};
pub use jwt::JwtRules;
pub use key::{KeyDocument, SigningKey, VerifyingKey};
pub(crate) use validation::media_type_matches;
pub use validation::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN, MAX_LEEWAY, MAX_TOKEN_LEN_LIMIT, TypeCheck, Validation,
};

pub(crate) use b64::{
    decode_into as b64_decode_into, decode_room as b64_decode_room, decode_vec as b64_decode_vec,
    encode_to as b64_encode_to,
};
pub(crate) use claims::parse_claims;
pub(crate) use json::{CowStr, deserialize_object};
pub(crate) use jws::{HeaderMemo, SignatureOk, payload_error, sign_with_header, verify_signature};
