//! The server-side scripts: every write that must be atomic is one script on one key (one
//! hash slot), sent as `EVALSHA`; on `NOSCRIPT`, which a node that never saw the script (a
//! replica just promoted, a restarted node, a `SCRIPT FLUSH`) answers, the script is loaded and
//! sent again (for a write, `SCRIPT LOAD` in the same pipeline to the same node, up to three
//! times; for the other calls, `SCRIPT LOAD` to every node, once).
//!
//! Versions are decimal strings compared as strings (exact for every `u64`; Lua's numbers are
//! doubles, exact only below 2^53), and incremented digit by digit ([`INCREMENT`]).

use std::sync::LazyLock;

use redis::Script;

/// A script with its source: a write re-sends it with `SCRIPT LOAD` to the one node that lacks
/// it ([`RedisStore::write`](crate::RedisStore::write)).
pub(crate) struct Lua {
    code: String,
    script: Script,
}

impl Lua {
    fn new(code: &str) -> Self {
        Self {
            code: code.to_owned(),
            script: Script::new(code),
        }
    }

    /// The source, for `SCRIPT LOAD`.
    pub(crate) fn code(&self) -> &str {
        &self.code
    }
}

impl std::ops::Deref for Lua {
    type Target = Script;

    fn deref(&self) -> &Script {
        &self.script
    }
}

/// `inc(s)`: the decimal `u64` string `s` plus one, wrapping at 2^64 like `u64::wrapping_add`.
const INCREMENT: &str = r"
local function inc(s)
  if s == '18446744073709551615' then return '0' end
  local out = {}
  local carry = 1
  for i = #s, 1, -1 do
    local d = string.byte(s, i) - 48 + carry
    if d == 10 then d = 0; carry = 1 else carry = 0 end
    out[i] = string.char(48 + d)
  end
  local r = table.concat(out)
  if carry == 1 then r = '1' .. r end
  return r
end
";

/// `create_family`: insert-if-absent. KEYS: family. ARGV: the hash's field/value pairs.
/// Returns 1 if inserted, 0 if the id was taken.
pub(crate) static CREATE_FAMILY: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
",
    )
});

/// `compare_and_swap_family`. KEYS: family. ARGV: expected version, new absolute expiry,
/// new subject, the number N of pair arguments, N field/value arguments, then the optional
/// fields to delete. Returns `{0, ''}` on a conflict (or no family); if swapped, `{flags,
/// old subject}` with flags 1, + 2 if the absolute expiry changed (the caller re-indexes
/// it), + 4 if the subject changed (the caller moves the index entry).
pub(crate) static SWAP_FAMILY: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
local f = redis.call('HMGET', KEYS[1], 'v', 'ae', 'u')
if f[1] ~= ARGV[1] then return {0, ''} end
local n = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], unpack(ARGV, 5, 4 + n))
if #ARGV > 4 + n then redis.call('HDEL', KEYS[1], unpack(ARGV, 5 + n, #ARGV)) end
local flags = 1
if f[2] ~= ARGV[2] then flags = flags + 2 end
if f[3] ~= ARGV[3] then flags = flags + 4 end
return {flags, f[3]}
",
    )
});

/// `revoke_subject`, one family: unconditional (no version condition), only if the family
/// has exactly this subject and is active (empty state). KEYS: family. ARGV: subject, the
/// revoked state. Returns 1 if this call revoked it.
pub(crate) static REVOKE_FAMILY: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(&format!(
        r"{INCREMENT}
local f = redis.call('HMGET', KEYS[1], 'u', 's', 'v')
if f[1] ~= ARGV[1] or f[2] ~= '' then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'v', inc(f[3]))
return 1
"
    ))
});

/// `load_family` with [`Durability::WaitForReplica`](crate::Durability::WaitForReplica):
/// `HGETALL`, and, if the family exists, a write that changes nothing (`HSET` of the field
/// `w` to empty), so that the `WAIT` sent next covers every write made to the primary before
/// this read, whoever made it: a refresh answered from this read (a grace retry) then stands
/// on replicated state. KEYS: family. Returns the `HGETALL` array.
pub(crate) static LOAD_FAMILY_REPLICATED: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
local h = redis.call('HGETALL', KEYS[1])
if #h > 0 then redis.call('HSET', KEYS[1], 'w', '') end
return h
",
    )
});

/// Sweeping a family: delete it if its version is still the one the sweep read (so a swap
/// in between, which may have moved the expiry, keeps it). KEYS: family. ARGV: version.
pub(crate) static DELETE_FAMILY_IF: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
",
    )
});

/// Delete a string key if it still holds exactly the value read (sweeping codes, replay
/// ids and user-code claims). KEYS: key. ARGV: value.
pub(crate) static DELETE_IF_EQUAL: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
",
    )
});

/// Insert-if-absent of a string key with an optional expiry (ms since the epoch, 0 for
/// none). KEYS: key. ARGV: value, pxat. Returns 1 if inserted.
pub(crate) static INSERT_STRING: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[2] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return 1
",
    )
});

/// `take_code`: GET and DEL in one step (what `GETDEL` does; a script so that it is the same
/// on every server version this store supports). KEYS: code.
pub(crate) static TAKE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v
",
    )
});

/// `insert_replay_id`: insert unless a live entry is there. The stored value is the expiry
/// in a fixed-width, order-preserving encoding ([`crate::keys::sortable`]), so Lua compares
/// strings byte by byte. KEYS: replay id. ARGV: expiry (sortable), now (sortable), pxat.
pub(crate) static INSERT_REPLAY: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
local e = redis.call('GET', KEYS[1])
if e and e > ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[3] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return 1
",
    )
});

/// `insert_device`, the record's half (the user code was claimed first). KEYS: device.
/// ARGV: record, version, pxat. Returns 1 if inserted.
pub(crate) static INSERT_DEVICE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'v', ARGV[2])
if ARGV[3] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return 1
",
    )
});

/// `compare_and_swap_device`. KEYS: device. ARGV: expected version, record, new version,
/// pxat. Returns 1 if swapped.
pub(crate) static SWAP_DEVICE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[2], 'v', ARGV[3])
if ARGV[4] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[4]) else redis.call('PERSIST', KEYS[1]) end
return 1
",
    )
});

/// Sweeping a device record: delete it if its version is the one read. KEYS: device.
/// ARGV: version.
pub(crate) static DELETE_DEVICE_IF: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
",
    )
});

/// The expiry index: remove a member only if its score is still the one read (a concurrent
/// insert may have re-indexed it). KEYS: bucket. ARGV: member, score.
pub(crate) static UNINDEX_IF: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[2]) then return 0 end
return redis.call('ZREM', KEYS[1], ARGV[1])
",
    )
});
