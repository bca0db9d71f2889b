//! The JOSE layer on its own: compact JWS over any payload, JWK and JWK Set documents, and
//! the parts of claims and validation that sit below [`Verifier`](crate::Verifier) and
//! [`KeySet`](crate::KeySet).
//!
//! An application that issues with [`Engine`](crate::Engine) and verifies with
//! [`Verifier`](crate::Verifier) or [`JwksSource`](crate::JwksSource) finds everything it names
//! at the crate root: [`Algorithm`], [`SigningKey`], [`VerifyingKey`], [`KeyDocument`],
//! [`Validation`], [`TypeCheck`], [`JwtRules`], [`JwksOptions`], [`AccessTokenClaims`] and
//! [`Audience`] are re-exported there. This module is the whole layer, and adds what only
//! lower-level code needs:
//!
//! - [`sign_compact`] and [`verify_compact`]: a compact JWS with the same algorithm-bound keys
//!   and header rules, for payloads that are not access tokens (test fixtures, signed
//!   assertions). `verify_compact` checks no claim: for access tokens use the `Verifier`.
//! - [`Jwk`] and [`JwkSet`], the public-key documents [`KeySet::jwks`](crate::KeySet::jwks)
//!   publishes; [`Jwks`] and [`SkippedKey`], a JWK Set imported as verification keys with the
//!   reason each unusable key was left out (what `Verifier::from_jwks_with` returns).
//! - [`Confirmation`] (the `cnf` claim of a sender-constrained token) and [`NoCustomClaims`]
//!   (the default type of [`AccessTokenClaims`]'s application claims).
//! - The bounds [`Validation`] enforces: [`DEFAULT_LEEWAY`], [`MAX_LEEWAY`],
//!   [`DEFAULT_MAX_TOKEN_LEN`], [`MAX_TOKEN_LEN_LIMIT`].
//!
//! Submodules are private; what is public is re-exported here.

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
    Encoded16, decode_into as b64_decode_into, decode_room as b64_decode_room,
    decode_small as b64_decode_small, decode_vec as b64_decode_vec, encode_16 as b64_encode_16,
    encode_16_into as b64_encode_16_into, encode_exact as b64_encode_exact,
    encode_to as b64_encode_to,
};
pub(crate) use claims::{Borrow, Keep, Own, RawIds, parse_claims, parse_claims_into};
pub(crate) use json::{CowStr, deserialize_object};
pub(crate) use jws::{HeaderMemo, SignatureOk, payload_error, sign_with_header, verify_signature};
