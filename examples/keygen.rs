//! Print a fresh signing key and refresh secret, ready to paste into configuration.
//!
//! `cargo run --example keygen` (EdDSA) or `cargo run --example keygen -- ES256`.
//! The output goes to standard output only: redirect it to a file with tight permissions or
//! into your secrets manager, never into version control.

use std::process::ExitCode;

use token_engine::{Algorithm, Error, KeySet, RefreshSecret, SigningKey};

const RSA_HELP: &str = "keygen: ring cannot generate RSA keys. Make one with OpenSSL and load it \
with SigningKey::from_pem(Algorithm::RS256, ..):
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out signing.pem
(or pick EdDSA, ES256 or ES384 here: cargo run --example keygen -- ES256)";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let alg = match std::env::args().nth(1).as_deref() {
        None => Algorithm::EdDSA,
        Some(name) => Algorithm::from_name(name).ok_or_else(|| {
            format!("keygen: unknown algorithm {name:?}; usage: keygen [EdDSA|ES256|ES384]")
        })?,
    };
    if alg.name().starts_with("RS") || alg.name().starts_with("PS") {
        return Err(RSA_HELP.to_owned());
    }
    if alg.name().starts_with("HS") {
        return Err(
            "keygen: HMAC keys are shared secrets, not key pairs: use 32+ random bytes \
(for example RefreshSecret::generate_bytes) with SigningKey::hmac"
                .to_owned(),
        );
    }
    keygen(alg).map_err(|e| format!("keygen: {e}"))
}

fn keygen(alg: Algorithm) -> Result<(), Error> {
    let (key, document) = SigningKey::generate(alg)?;
    let pem = document.to_pem().ok_or(Error::Config(
        "keygen makes asymmetric keys: EdDSA, ES256 or ES384",
    ))?;
    let kid = key.kid().unwrap_or_default().to_owned();
    let jwks = serde_json::to_string_pretty(&KeySet::new(key).jwks())
        .map_err(|e| Error::Serialize(e.to_string()))?;
    let secret = RefreshSecret::generate_bytes()?;
    let secret_b64 = {
        use base64::Engine as _;
        zeroize::Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&secret[..]),
        )
    };

    println!("# Signing key ({alg}), kid {kid}. Store as TOKEN_SIGNING_KEY_PEM or in signing.pem:");
    print!("{}", &*pem);
    println!();
    println!("# Its public JWK set, for your jwks_uri and resource servers:");
    println!("{jwks}");
    println!();
    println!("# Refresh-token secret (32 random bytes, base64url). Store as TOKEN_REFRESH_SECRET:");
    println!("{}", &*secret_b64);
    Ok(())
}
