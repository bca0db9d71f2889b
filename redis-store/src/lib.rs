//! A Redis Cluster store for [`token_engine`]: [`TokenStore`], [`CodeStore`],
//! [`DeviceStore`], [`ReplayStore`] and [`ClientStore`] over the `redis` crate's multiplexed cluster
//! connection (one connection per node, MOVED/ASK redirects followed, the slot map
//! refreshed on a topology change), shared by any number of engine instances (app servers).
//! It passes the whole conformance kit, with two clients as the two instances, and the
//! cross-instance and failover tests in `tests/`.
//!
//! Like the PostgreSQL store it is a workspace member, not published: **copy it** into your
//! application (`src/*.rs`) and adapt it.
//!
//! ```no_run
//! use token_engine::{Engine, RefreshSecret, SigningKey};
//! use token_engine_redis::{RedisOptions, RedisStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let nodes = ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379", "redis://10.0.0.3:6379"];
//! let store = RedisStore::connect(&nodes, RedisOptions::default()).await?;
//! let engine = Engine::builder()
//!     .issuer("https://auth.example.com")
//!     .signing_key(SigningKey::ed25519_from_pkcs8(&std::fs::read("key.der")?)?)
//!     .refresh_secret(RefreshSecret::from_bytes(&std::fs::read("refresh.key")?)?)
//!     .build(store)?;
//! // Sweep expired families (and what the TTLs have not taken yet) now and then:
//! engine.delete_expired().await?;
//! # Ok(()) }
//! ```
//!
//! # Keys, slots and atomicity
//!
//! Every key starts with the namespace (`NS`); the part in braces is the hash tag, which
//! alone decides the slot:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `NS:f:{ID}` | hash | a family: one short field per record field (`u` subject, `v` version, `s` state, ...; see below) |
//! | `NS:s:{H}` | hash | the subject index: the ids (hex, as fields with empty values: a compact listpack) of the families whose subject hashes to `H` (first 16 bytes of SHA-256, hex) |
//! | `NS:x:{N}` | sorted set | the expiry index, 16 buckets: members `f`/`c`/`d`/`r` + hex id, scored by expiry |
//! | `NS:c:{K}` | string | a one-time code (JSON), with a TTL |
//! | `NS:d:{K}` | hash | a device record: `r` the record (JSON), `v` version, with a TTL |
//! | `NS:u:{H}` | string | a user-code claim: the hex key of the device record holding that user code, with a TTL |
//! | `NS:r:{K}` | string | a replay id: its expiry (order-preserving decimal), with a TTL |
//! | `NS:p:g`, `NS:p:t:HEX` | string | the global / a tenant's policy version, `major.minor` |
//!
//! `ID` and `K` are the family id and the 32-byte keys in hex; `H` hashes a subject or a
//! user code, so any string (braces, any length, any Unicode) gives a short, valid tag.
//!
//! Every write that must be atomic touches one key, so one hash slot, and is one Lua script
//! (one round trip, `EVALSHA`; on `NOSCRIPT` the script is loaded and sent again, up to three
//! times for a write):
//!
//! | method | round trips | how |
//! |---|---|---|
//! | `create_family` | 2 | `HSET` in the subject index and `ZADD` to the expiry index (at once), then a script: insert-if-absent |
//! | `load_family` | 1 | `HGETALL` (with `WAIT`: a script, `HGETALL` and a no-op write, and `WAIT` in the same pipeline) |
//! | `compare_and_swap_family` | 1 | a script: swap every field if the version is the expected one (a `ZADD` more if the absolute expiry changed) |
//! | `list_families` | 2 | `HKEYS` of the subject index, then every family (pipelined), kept if its subject is byte-for-byte the one asked |
//! | `revoke_subject` | 2 | `HKEYS`, then one script per family (pipelined): revoke if active and of this subject, unconditionally (no version condition), version + 1 |
//! | `insert_code` / `take_code` | 1 + index / 1 | insert-if-absent with a TTL / `GET`+`DEL` in a script |
//! | `insert_device` | 2 + index | claim the user code (insert-if-absent), then insert the record (a refused record releases the claim) |
//! | `compare_and_swap_device` | 1 | a script on the record's version |
//! | `insert_replay_id` | 1 + index | a script: insert unless a live (unexpired at `now`) entry is there |
//! | policy versions | 1 | `GET` / `SET` / `DEL` |
//!
//! A refresh is therefore one `HGETALL` and one `EVALSHA`, two round trips, each to the
//! primary of the family's slot, whichever instance runs it: the swap is atomic on the
//! server, across any number of clients.
//!
//! # Across slots: the subject index, and a sign-out racing a login
//!
//! A family and its subject's index entry live in different slots, so no script can cover
//! both. `create_family` adds the family's id to the index *before* it inserts the family,
//! and `revoke_subject` reads the index once (`HKEYS`), then revokes each family it names
//! with a per-family script. Hence, for a sign-out (`revoke_subject`) concurrent with a new
//! login of the same subject:
//!
//! - a login whose `create_family` **returned before** `revoke_subject` started is always
//!   revoked (its index entry was written before the family, so before the read);
//! - a login whose `create_family` **overlaps** the sign-out may or may not be revoked: it
//!   is revoked if its index entry landed before the `HKEYS`, and survives otherwise (the
//!   contract allows both: "a family created concurrently may or may not be included");
//! - a login that **starts after** `revoke_subject` returned survives (it is a new session);
//! - every family it names is revoked whatever its version, so families rotated while it
//!   runs are revoked too, and the result is visible through `load_family` at once.
//!
//! An index entry whose family was never created (a failed `create_family`) or was swept
//! is skipped by the reads and removed by the sweep. The subject is part of the family's
//! hash and compared byte for byte by every read and by the revoke script, so neither a
//! hash collision nor a stale entry can reach another subject's family.
//!
//! # Values, exactly
//!
//! A family's hash has one field per record field, each short, so that Redis keeps it as a
//! compact listpack: integers in decimal (exact for every `u64` and `i64`), the secret hash
//! as its 32 bytes, strings byte for byte (any Unicode), an absent optional field as an
//! absent hash field; the state is empty when active, else the reason, time and operation
//! id. The version is a decimal string that the scripts compare as a string and increment
//! digit by digit (exact for every `u64`, which Lua's doubles are not). Codes and device
//! records are JSON (`serde_json`), replay ids their expiry.
//!
//! # Expiry
//!
//! - **Families have no TTL**: the contract lists expired families until they are swept,
//!   and a sweep must report what it deleted. [`TokenStore::delete_expired`] walks the
//!   expiry index (16 sorted sets) up to `now` and deletes each family whose stored absolute
//!   expiry is past (re-checked exactly, and only if its version did not move meanwhile).
//! - **Codes, device records, user-code claims and replay ids** get a Redis TTL at their
//!   expiry plus [`RedisOptions::ttl_margin`] (an hour by default, for clocks that differ),
//!   since nothing may read them after that: codes and device records past their expiry are
//!   refused by the engine, an expired replay id counts as absent. The sweep deletes them
//!   at `now` exactly (and counts them); the TTL collects what no sweep reaches.
//!
//! # Durability: what a failover loses
//!
//! Redis replicates asynchronously. A write acknowledged by a primary that dies before its
//! replica received it is lost when the replica takes over: for a family, the rotation
//! rolls back, so the client holds a successor the store no longer knows (its next refresh
//! fails as `InvalidGrant(GenerationAhead)`: the session ends, not reported as theft) and
//! the previous token works once more. [`Durability::WaitForReplica`] sends `WAIT 1
//! <timeout>` right behind each write, in one pipeline to the key's primary, and makes each
//! `load_family` a script that also writes a no-op (so that its `WAIT` covers every write
//! the primary applied before the read, whoever made it: a grace retry answered from the
//! read then stands on replicated state): the call returns only once a replica holds it, or
//! fails with [`RedisStoreError::NotReplicated`] (the engine answers `Error::Store`; the write
//! is on the primary and the client's retry reads it). The pipeline matters: `WAIT` counts
//! the writes of its own connection, and the client library re-sends a command whose
//! connection dropped, while that node's connection is rebuilt, to any node it is connected
//! to (another primary, a replica), so a `WAIT` sent on its own after the write could be
//! answered, on another connection, for writes that are not this one (the failover test lost
//! two acknowledged rotations that way). Re-sent as a pair, the write runs again where the
//! pair lands (or is redirected to the key's primary); a write that finds its own first
//! attempt changes nothing and answers "conflict" or "exists" (see Timeouts below), which
//! needs no acknowledgement. The `WAIT` runs after every write, also one that changed
//! nothing: with a replica behind, such a call takes up to the `WAIT` timeout too, and so do
//! the calls queued behind it on that node's connection; keep the timeout well under
//! [`RedisOptions::response_timeout`]. It costs the replication delay per write (no extra
//! round trip), and it turns a lagging or missing replica into errors: a primary whose only
//! replica is down refuses (answers with errors) every write until a replica is back, and a
//! client whose retries of such a write outlast `reuse_grace` is then taken for a thief (the
//! family is revoked). Hence, with it: two replicas per primary, and a `reuse_grace` longer
//! than a failover. Redis does not make `WAIT` a consensus commit either (a replica that did
//! not acknowledge may still be elected when there are several). The crate's failover test
//! (`tests/failover/main.rs`) measures both modes; the README ("Choosing a store") gives the
//! figures and the recommendation.
//!
//! # Operating it
//!
//! - **Read your writes**: every command goes to the slot's primary; never enable
//!   replica reads for this store (a lagging replica shows an older generation, and an
//!   honest client is taken for a thief).
//! - **Sweeping**: call [`Engine::delete_expired`](token_engine::Engine::delete_expired)
//!   from one place every minute or so.
//! - **Timeouts**: [`RedisOptions`] bounds connecting and each response; a timeout is an
//!   `Error::Store`. The client library re-sends a command whose connection dropped (and
//!   follows redirects). A re-sent write whose first attempt had committed finds it: a swap
//!   answers "conflict", and the engine then finds its own rotation (a grace retry with
//!   `reuse_grace` on; in strict mode, like any lost answer retried, a reuse); a family's
//!   create answers "exists", and the engine reads the family back and, finding its own
//!   record, goes on with it. The other inserts fail closed: a replay id (a DPoP proof's, a
//!   client assertion's) is taken for a replay and the request refused (the client sends a
//!   new proof). A code, pushed request or client registration draws another random value
//!   (code, `request_uri`, client id) and stores it again, through the same replica wait (the
//!   first record is left unused: nobody was told its value; a code or pushed request
//!   expires, a registration stays), and a device authorization draws another user code (the
//!   first record expires unused). A re-sent `take_code` whose first attempt took the code
//!   finds none (the exchange fails; the user authorizes again).
//! - **Namespaces**: every key starts with [`RedisOptions::namespace`], so several
//!   deployments (or test runs) can share one cluster.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::time::Duration;

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
use redis::{
    Cmd, ErrorKind, FromRedisValue, ScriptInvocation, ServerErrorKind, ToRedisArgs, Value,
};
use scripts::Lua;

mod error;
mod families;
mod groups;
mod keys;
mod record;
mod scripts;
mod sweep;

pub use error::RedisStoreError;
// Re-exported for the types in this crate's signatures.
pub use redis;

#[cfg(doc)]
use token_engine::store::{ClientStore, CodeStore, DeviceStore, ReplayStore, TokenStore};

use keys::Keys;

/// What a write waits for before it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// The primary applied it (Redis's default: replication is asynchronous).
    #[default]
    Primary,
    /// The primary applied it and at least one replica acknowledged it (`WAIT 1 timeout`
    /// after the write); past the timeout the call fails with
    /// [`RedisStoreError::NotReplicated`].
    WaitForReplica {
        /// How long to wait for the replica.
        timeout: Duration,
    },
}

/// Settings of a [`RedisStore`]. `Default`: namespace `te`, [`Durability::Primary`], 1 s to
/// connect, 2 s per response, TTL margin of an hour.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisOptions {
    /// The prefix of every key (1 to 64 characters of `[A-Za-z0-9-_:.]`).
    pub namespace: String,
    /// What a write waits for.
    pub durability: Durability,
    /// Bound on connecting to a node.
    pub connect_timeout: Duration,
    /// Bound on each response (the client library's retries and redirects included).
    pub response_timeout: Duration,
    /// How long after their expiry codes, device records and replay ids are dropped by
    /// Redis itself (the sweep deletes them at their expiry).
    pub ttl_margin: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            namespace: "te".to_owned(),
            durability: Durability::Primary,
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(2),
            ttl_margin: Duration::from_secs(3600),
        }
    }
}

impl RedisOptions {
    /// These options with another namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// These options with another durability.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }
}

/// A Redis Cluster store over one multiplexed cluster connection. Clones share it.
#[derive(Clone)]
pub struct RedisStore {
    conn: ClusterConnection,
    keys: Keys,
    durability: Durability,
    ttl_margin: i64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("keys", &self.keys)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connect to the cluster through any of `nodes` (`redis://host:port` URLs; the others
    /// are discovered).
    pub async fn connect<T: AsRef<str>>(
        nodes: &[T],
        options: RedisOptions,
    ) -> Result<Self, RedisStoreError> {
        if nodes.is_empty() {
            return Err(RedisStoreError::Config("no node URL"));
        }
        let client = ClusterClient::builder(nodes.iter().map(|n| n.as_ref().to_owned()))
            .connection_timeout(options.connect_timeout)
            .response_timeout(options.response_timeout)
            .build()?;
        let conn = client.get_async_connection().await?;
        Self::new(conn, options)
    }

    /// A store over a connection you made (your TLS, your client settings). Never enable
    /// replica reads on it.
    pub fn new(conn: ClusterConnection, options: RedisOptions) -> Result<Self, RedisStoreError> {
        let margin = i64::try_from(options.ttl_margin.as_secs()).unwrap_or(i64::MAX);
        Ok(Self {
            conn,
            keys: Keys::new(&options.namespace)?,
            durability: options.durability,
            ttl_margin: margin,
        })
    }

    /// The namespace of every key of this store.
    #[must_use]
    pub fn namespace(&self) -> &str {
        self.keys.namespace()
    }

    /// The cluster connection (to send your own commands, or to count them).
    #[must_use]
    pub fn connection(&self) -> ClusterConnection {
        self.conn.clone()
    }

    /// Run a script (one round trip; two more if the node lacks it).
    async fn script<T: FromRedisValue>(
        &self,
        inv: &ScriptInvocation<'_>,
    ) -> Result<T, RedisStoreError> {
        let mut conn = self.conn.clone();
        Ok(inv.invoke_async(&mut conn).await?)
    }

    /// Send `write` and, with [`Durability::WaitForReplica`], `WAIT 1 <timeout>` behind it
    /// in one pipeline to the key's primary: one round trip, and the `WAIT` runs on the
    /// connection that made the write, right after it. Sent apart, the client library could
    /// re-send a `WAIT` whose connection dropped (the primary killed while it waited) to any
    /// node it is connected to while that connection is rebuilt (another primary, a
    /// replica), whose answer says nothing of this write; a re-sent pipeline runs the write
    /// again where it lands (redirected to the key's primary) and waits for that. The
    /// answer, and whether a replica acknowledged the write ([`Replication::required`]); with
    /// [`Durability::Primary`], nothing more than the write.
    pub(crate) async fn write<T: FromRedisValue>(
        &self,
        write: &Write<'_>,
    ) -> Result<(T, Replication), RedisStoreError> {
        let wait = match self.durability {
            Durability::WaitForReplica { timeout } => Some(timeout),
            Durability::Primary => None,
        };
        let mut pipe = redis::pipe();
        pipe.add_command(write.cmd.clone());
        if let Some(timeout) = wait {
            let ms = u64::try_from(timeout.as_millis())
                .unwrap_or(u64::MAX)
                .max(1);
            pipe.cmd("WAIT").arg(1).arg(ms);
        }
        let route =
            SingleNodeRoutingInfo::SpecificNode(Route::with_key(write.key, SlotAddr::Master));
        // Times the script was sent again with its source (a node flushed meanwhile: again).
        let mut loads = 0;
        loop {
            let mut conn = self.conn.clone();
            let count = pipe.len();
            let mut answers = conn
                .route_pipeline(pipe.clone(), 0, count, route.clone())
                .await?
                .into_iter();
            if loads > 0 {
                // The `SCRIPT LOAD` in front: its answer is the hash, or why it failed.
                if let Some(Err(e)) = answers.next().map(Value::extract_error) {
                    return Err(e.into());
                }
            }
            let (Some(answer), acks) = (answers.next(), answers.next()) else {
                return Err(RedisStoreError::Corrupt("an empty pipeline answer"));
            };
            let answer = match answer.extract_error() {
                Ok(answer) => answer,
                // The node lacks the script (restarted, promoted, flushed): send it again with
                // `SCRIPT LOAD` in front, in the same pipeline to the same node (a load sent to
                // every node would fail while one of them is down, as in a failover).
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) && loads < 3 => {
                    let Some(script) = write.script else {
                        return Err(e.into());
                    };
                    if loads == 0 {
                        let mut load = redis::cmd("SCRIPT");
                        load.arg("LOAD").arg(script.code());
                        let mut with_load = redis::pipe();
                        with_load.add_command(load);
                        for cmd in pipe.cmd_iter() {
                            with_load.add_command(cmd.clone());
                        }
                        pipe = with_load;
                    }
                    loads += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let answer = redis::from_redis_value::<T>(answer).map_err(redis::RedisError::from)?;
            // What the `WAIT` said fails only the calls that need it (a write that changed
            // nothing does not).
            let replication = match (wait, acks.map(Value::extract_error)) {
                (None, _) => Ok(()),
                (Some(_), Some(Ok(Value::Int(n)))) if n >= 1 => Ok(()),
                (Some(timeout), Some(Ok(Value::Int(_)))) => {
                    Err(RedisStoreError::NotReplicated(timeout))
                }
                (Some(_), Some(Ok(_))) => {
                    Err(RedisStoreError::Corrupt("WAIT answered a non-integer"))
                }
                (Some(_), Some(Err(e))) => Err(e.into()),
                (Some(_), None) => Err(RedisStoreError::Corrupt("no answer to WAIT")),
            };
            return Ok((answer, Replication(replication)));
        }
    }
}

/// A write to one key, as [`RedisStore::write`] sends it: an `EVALSHA` of one of the crate's
/// scripts (with the key as its one `KEYS` entry), or a plain command.
pub(crate) struct Write<'a> {
    cmd: Cmd,
    script: Option<&'a Lua>,
    key: &'a str,
}

impl<'a> Write<'a> {
    /// `script` over `key`; its `ARGV` follow with [`Write::arg`].
    pub(crate) fn script(script: &'a Lua, key: &'a str) -> Self {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash()).arg(1).arg(key);
        Self {
            cmd,
            script: Some(script),
            key,
        }
    }

    /// A plain command writing `key`.
    pub(crate) fn command(cmd: Cmd, key: &'a str) -> Self {
        Self {
            cmd,
            script: None,
            key,
        }
    }

    /// One more argument.
    pub(crate) fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.cmd.arg(arg);
        self
    }
}

/// Whether a replica acknowledged a write ([`RedisStore::write`]): an error if
/// [`Durability::WaitForReplica`] asked and none did within the timeout
/// ([`RedisStoreError::NotReplicated`]), or if the `WAIT` itself failed.
#[must_use = "a write not acknowledged must fail the call"]
pub(crate) struct Replication(Result<(), RedisStoreError>);

impl Replication {
    /// `Ok` if acknowledged (or not asked for).
    pub(crate) fn required(self) -> Result<(), RedisStoreError> {
        self.0
    }
}
