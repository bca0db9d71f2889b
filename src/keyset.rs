//! A signing key plus the verification keys of its predecessors (and any pre-published
//! successor): rotation without a window where fresh tokens fail, and JWKS export.

use std::sync::{Arc, PoisonError, RwLock};

use serde::Serialize;

use crate::error::Error;
use crate::jose::{JwkSet, SigningKey, Validation, VerifyingKey, sign_with_header};
use crate::verifier::{KeyCell, Verifier};

/// The issuer's keys: one active [`SigningKey`] and the [`VerifyingKey`]s that tokens still
/// in circulation may need (the active key's own, retiring ones, a pre-published next one).
///
/// `KeySet` is a shared handle: clones, and every [`Verifier`] made by
/// [`KeySet::verifier`], see rotations at once. [`KeySet::rotate`] publishes the new
/// verification key *before* it switches the signer, so no verifier sharing the set ever sees
/// a token signed by a key it does not know.
#[derive(Clone, Debug)]
pub struct KeySet {
    signing: Arc<RwLock<Arc<SigningKey>>>,
    published: Arc<KeyCell>,
}

fn kid_clash(keys: &[VerifyingKey], kid: Option<&str>) -> bool {
    keys.iter().any(|k| k.kid() == kid)
}

impl KeySet {
    /// A set whose only key is `signing`.
    #[must_use]
    pub fn new(signing: SigningKey) -> Self {
        let published = Arc::new(KeyCell::new(vec![signing.verifying_key()]));
        Self {
            signing: Arc::new(RwLock::new(Arc::new(signing))),
            published,
        }
    }

    /// Also accept tokens signed by `key` (a retiring key, or the next key published ahead of
    /// its activation). Its `kid` must be set and unique in the set.
    pub fn add_verification_key(&self, key: VerifyingKey) -> Result<(), Error> {
        if key.kid().is_none() {
            return Err(Error::Config(
                "key set: every key of a multi-key set needs a kid",
            ));
        }
        self.published.update(|keys| {
            if kid_clash(keys, key.kid()) {
                return Err(Error::Config("key set: duplicate kid"));
            }
            if keys.iter().any(|k| k.kid().is_none()) {
                return Err(Error::Config(
                    "key set: every key of a multi-key set needs a kid",
                ));
            }
            keys.push(key);
            Ok(())
        })
    }

    /// Make `next` the signing key. Its verification key is published first; the previous
    /// signing key stays as a verification key until [`KeySet::retire`]d (retire it once the
    /// longest-lived token it signed has expired). Both keys need distinct `kid`s.
    pub fn rotate(&self, next: SigningKey) -> Result<(), Error> {
        let Some(next_kid) = next.kid() else {
            return Err(Error::Config(
                "key set: rotation needs a kid on the new key",
            ));
        };
        let verifying = next.verifying_key();
        let mut signing = self.signing.write().unwrap_or_else(PoisonError::into_inner);
        if signing.kid().is_none() {
            return Err(Error::Config(
                "key set: rotation needs a kid on the current key",
            ));
        }
        self.published.update(|keys| {
            if let Some(published) = keys.iter().find(|k| k.kid() == Some(next_kid)) {
                // A pre-published key with this kid must be the same key for the same
                // algorithm: a key is bound to one algorithm, and verifiers pick by kid, so
                // the same material under another algorithm (RS256 → PS256) needs its own kid.
                if published.alg() != verifying.alg() {
                    return Err(Error::Config(
                        "key set: this kid already names a key for another algorithm; give the new key its own kid",
                    ));
                }
                let same =
                    published.thumbprint() == verifying.thumbprint() && !published.is_symmetric();
                if !same {
                    return Err(Error::Config("key set: duplicate kid"));
                }
                return Ok(());
            }
            keys.push(verifying);
            Ok(())
        })?;
        *signing = Arc::new(next);
        Ok(())
    }

    /// Stop accepting tokens signed by the key with this `kid`. The active signing key cannot
    /// be retired. Returns whether a key was removed.
    pub fn retire(&self, kid: &str) -> Result<bool, Error> {
        let signing = self.signing.read().unwrap_or_else(PoisonError::into_inner);
        if signing.kid() == Some(kid) {
            return Err(Error::Config(
                "key set: the active signing key cannot be retired",
            ));
        }
        self.published.update(|keys| {
            let before = keys.len();
            keys.retain(|k| k.kid() != Some(kid));
            Ok(keys.len() != before)
        })
    }

    /// The active signing key.
    #[must_use]
    pub fn signing_key(&self) -> Arc<SigningKey> {
        Arc::clone(&self.signing.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The keys tokens are currently verified with.
    #[must_use]
    pub fn verification_keys(&self) -> Arc<Vec<VerifyingKey>> {
        self.published.load()
    }

    /// The public keys as a JWK Set, for `jwks_uri`. HMAC keys are never included, and no
    /// private member can be: [`Jwk`](crate::jose::Jwk) has none.
    #[must_use]
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self
                .published
                .load()
                .iter()
                .filter_map(VerifyingKey::to_jwk)
                .collect(),
        }
    }

    /// A verifier that shares this set's keys: it sees every rotation as it happens.
    pub fn verifier(&self, rules: Validation) -> Result<Verifier, Error> {
        Verifier::with_cell(Arc::clone(&self.published), rules)
    }

    /// Sign `claims` as an RFC 9068 access token (`typ: at+jwt`) with the active key.
    pub fn sign_access_token<C: Serialize + ?Sized>(&self, claims: &C) -> Result<String, Error> {
        let payload = serde_json::to_vec(claims).map_err(|e| Error::Serialize(e.to_string()))?;
        self.sign_access_token_json(&payload)
    }

    /// Sign an already serialized claims object as an access token.
    pub(crate) fn sign_access_token_json(&self, payload: &[u8]) -> Result<String, Error> {
        let key = self.signing_key();
        sign_with_header(&key, key.at_jwt_header(), payload)
    }
}
