//! Print a fresh signing key and refresh secret, ready to paste into configuration.
//!
//! `cargo run --example keygen` (EdDSA) or `cargo run --example keygen -- ES256`.
//! The output goes to standard output only: redirect it to a file with tight permissions or
//! into your secrets manager, never into version control.

use token_engine::{Algorithm, Error, KeySet, RefreshSecret, SigningKey};

fn main() -> Result<(), Error> {
    let alg = match std::env::args().nth(1).as_deref() {
        None => Algorithm::EdDSA,
        Some(name) => {
            Algorithm::from_name(name).ok_or(Error::Config("usage: keygen [EdDSA|ES256|ES384]"))?
        }
    };
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
