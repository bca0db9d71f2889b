//! Print a fresh signing key, refresh secret and client-secret hashing key, ready to paste
//! into configuration (the names the README's snippets read: `TOKEN_SIGNING_KEY_PEM` or
//! `signing.pem`, `TOKEN_REFRESH_SECRET`, `TOKEN_CLIENT_SECRET_KEY`).
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
    print!("{}", &*output(alg)?);
    Ok(())
}

/// Base64url (no padding) of 32 fresh random bytes.
fn random_b64() -> Result<zeroize::Zeroizing<String>, Error> {
    use base64::Engine as _;
    let bytes = RefreshSecret::generate_bytes()?;
    Ok(zeroize::Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..]),
    ))
}

/// Everything keygen prints (secrets: zeroized when dropped).
fn output(alg: Algorithm) -> Result<zeroize::Zeroizing<String>, Error> {
    use std::fmt::Write as _;
    let (key, document) = SigningKey::generate(alg)?;
    let pem = document.to_pem().ok_or(Error::Config(
        "keygen makes asymmetric keys: EdDSA, ES256 or ES384",
    ))?;
    let kid = key.kid().unwrap_or_default().to_owned();
    let jwks = serde_json::to_string_pretty(&KeySet::new(key).jwks())
        .map_err(|e| Error::Serialize(e.to_string()))?;
    let refresh = random_b64()?;
    let client_key = random_b64()?;
    let mut out = zeroize::Zeroizing::new(String::new());
    let text = &mut *out;
    // Writing to a String cannot fail.
    let _ = writeln!(
        text,
        "# Signing key ({alg}), kid {kid}. Store as TOKEN_SIGNING_KEY_PEM or in signing.pem:"
    );
    text.push_str(&pem);
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "# Its public JWK set, for your jwks_uri and resource servers:"
    );
    let _ = writeln!(text, "{jwks}");
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "# Refresh-token secret (32 random bytes, base64url). Store as TOKEN_REFRESH_SECRET:"
    );
    let _ = writeln!(text, "{}", &*refresh);
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "# Key that client secrets are hashed under (32 random bytes, base64url; the engine \
         takes the text's bytes, 43 of them). Store as TOKEN_CLIENT_SECRET_KEY:"
    );
    let _ = writeln!(text, "{}", &*client_key);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value printed under the comment that names `var`.
    fn value<'a>(out: &'a str, var: &str) -> &'a str {
        let mut lines = out.lines();
        lines.find(|l| l.starts_with('#') && l.ends_with(&format!("{var}:")));
        lines.next().unwrap_or_default()
    }

    #[test]
    fn prints_every_variable_the_readme_backend_reads_and_they_build_an_engine() {
        let out = output(Algorithm::EdDSA).unwrap();
        let refresh = value(&out, "TOKEN_REFRESH_SECRET");
        let client_key = value(&out, "TOKEN_CLIENT_SECRET_KEY");
        assert_eq!(client_key.len(), 43, "{}", &*out);
        assert_ne!(client_key, refresh);
        let start = out.find("-----BEGIN").unwrap();
        let end = out.find("-----END PRIVATE KEY-----\n").unwrap() + 26;
        let pem = &out[start..end];
        // What the README's backend snippet does with them.
        let engine = token_engine::Engine::builder()
            .issuer("https://auth.example.com")
            .audience("https://api.example.com")
            .signing_key(SigningKey::from_pem(Algorithm::EdDSA, pem).unwrap())
            .refresh_secret(RefreshSecret::from_base64url(refresh).unwrap())
            .client_secret_key(client_key.as_bytes())
            .build(token_engine::MemoryStore::new());
        assert!(engine.is_ok(), "{:?}", engine.err());
    }
}
