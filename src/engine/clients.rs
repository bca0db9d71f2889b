//! Client authentication at the token endpoint, against the application's client table.

use super::{Engine, store_error, store_key};
use crate::client::{Client, ClientAuthMethod};
use crate::client_auth::{
    ClientCredentials, ClientRegistry, ClientSecretHasher, Presented, assertion_issuer, presented,
    verify_assertion,
};
use crate::error::Error;
use crate::store::{InsertOutcome, ReplayStore};

impl<S: ReplayStore> Engine<S> {
    /// Authenticate the client of a token request from what arrived on the wire: the
    /// `Authorization` header and the form's `client_id`, `client_secret`,
    /// `client_assertion_type` and `client_assertion`. The method used must be the one the
    /// client is registered with; exactly one method per request (RFC 6749 §2.3). A
    /// `private_key_jwt` assertion is single-use: its `jti` is recorded in the store's replay
    /// ids until it expires, so a replay fails on every instance. Every failure is
    /// [`Error::InvalidClient`] (HTTP 401).
    pub async fn authenticate_client<R: ClientRegistry>(
        &self,
        registry: &R,
        credentials: &ClientCredentials<'_>,
    ) -> Result<Client, Error> {
        let presented = presented(credentials)?;
        let id = match &presented {
            Presented::Id(id) | Presented::Basic(id, _) => id.clone(),
            Presented::Post(id, _) => (*id).to_owned(),
            Presented::Assertion(Some(id), _) => (*id).to_owned(),
            Presented::Assertion(None, a) => assertion_issuer(a)?,
        };
        let client = registry
            .client(&id)
            .await?
            .ok_or(Error::InvalidClient("unknown client"))?;
        match (client.auth_method(), &presented) {
            (ClientAuthMethod::None, Presented::Id(_)) => Ok(client),
            (ClientAuthMethod::SecretBasic(hash), Presented::Basic(_, secret)) => {
                self.check_secret(secret, hash)?;
                Ok(client)
            }
            (ClientAuthMethod::SecretPost(hash), Presented::Post(_, secret)) => {
                self.check_secret(secret, hash)?;
                Ok(client)
            }
            (ClientAuthMethod::PrivateKeyJwt(_), Presented::Assertion(_, assertion)) => {
                self.check_assertion(&client, assertion).await?;
                Ok(client)
            }
            _ => Err(Error::InvalidClient(
                "authentication method not registered for this client",
            )),
        }
    }

    fn check_secret(
        &self,
        secret: &str,
        hash: &crate::client::ClientSecretHash,
    ) -> Result<(), Error> {
        let hasher = self.client_secret_hasher().ok_or(Error::Config(
            "engine: clients with secrets need EngineBuilder::client_secret_key",
        ))?;
        if hasher.verify(secret, hash) {
            Ok(())
        } else {
            Err(Error::InvalidClient("wrong client secret"))
        }
    }

    async fn check_assertion(&self, client: &Client, assertion: &str) -> Result<(), Error> {
        let now = self.now();
        let mut audiences = vec![self.inner.issuer.as_str()];
        if let Some(endpoint) = self.inner.token_endpoint.as_deref() {
            audiences.push(endpoint);
        }
        let verified = verify_assertion(assertion, client, &audiences, now, self.inner.leeway)?;
        let id = store_key(
            "client_assertion",
            &[verified.client_id.as_bytes(), verified.jti.as_bytes()],
        );
        match self
            .inner
            .store
            .insert_replay_id(&id, verified.exp.saturating_add(self.inner.leeway), now)
            .await
            .map_err(store_error)?
        {
            InsertOutcome::Inserted => Ok(()),
            InsertOutcome::Exists => Err(Error::InvalidClient("client assertion replayed")),
        }
    }
}

impl<S> Engine<S> {
    /// The hasher for client secrets (`EngineBuilder::client_secret_key`): hash a new client's
    /// secret with it for your client table.
    #[must_use]
    pub fn client_secret_hasher(&self) -> Option<&ClientSecretHasher> {
        self.inner.client_secrets.as_ref()
    }
}
