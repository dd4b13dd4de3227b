//! [`KeyValue`]: the key-value interface (get/set with expiry, claim, atomic compare-and-swap).

use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::StoreError;

/// Keys mapping to byte values, each with an optional time to live. Expired keys are never
/// returned and count as absent everywhere (a claim on an expired key succeeds).
///
/// [`compare_and_swap`](KeyValue::compare_and_swap) is the atomic primitive the other features
/// build on: read a value, compute the next one, swap it in if nobody changed it meanwhile, and
/// retry otherwise.
pub trait KeyValue: Send + Sync {
    /// The value of `key`, or `None` when it is absent or expired.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Sets `key` to `value`, expiring after `ttl` (never when `None`); replaces any value and
    /// expiry it had.
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Sets `key` only when it is absent (or expired): `true` when this call set it. Of
    /// concurrent callers on one key exactly one wins, which makes this a claim or lock (give it
    /// a `ttl` so a crashed holder's claim runs out).
    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Removes `key`: `true` when it was there (and not expired).
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Atomically: when the current value of `key` is `expected` (`None`: the key must be
    /// absent or expired), replaces it by `new` (`None`: deletes it) expiring after `ttl`, and
    /// returns `true`; otherwise changes nothing and returns `false`.
    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a [u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// `ttl` in whole milliseconds, at least 1 (a zero TTL would mean "never" to some stores).
pub(crate) fn ttl_millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1)
}
