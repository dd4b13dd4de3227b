//! [`StoreError`]: why a store could not be reached or a call on it failed, worded for the
//! person who runs the gateway (each message names the config section to look at).

/// A failure of a store. Every message starts with the config section the store belongs to
/// (e.g. `rate_limits`, `cache`), so the operator knows which setting to check.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store's address in the config cannot be used (e.g. `cache.redis_url: invalid URL`).
    #[error("{field}: {reason}")]
    BadConfig {
        /// The config field, as `section.field`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store could not be opened or connected to at startup.
    #[error("{section}: cannot connect to {backend} at {url}: {reason}")]
    Connect {
        /// The config section the store belongs to.
        section: String,
        /// The kind of store: `Redis` or `SQLite`.
        backend: &'static str,
        /// Where the store was looked for (a Redis URL or a file path).
        url: String,
        /// The cause reported by the driver.
        reason: String,
    },
    /// A call on an open store failed; the text names the store and the cause.
    #[error("{0}")]
    Unavailable(String),
    /// The store did not answer in time; the text names the store and what was waited for.
    #[error("{0}")]
    Timeout(String),
    /// The store holds data this version cannot read (a damaged file, a key of the wrong type,
    /// a schema written by a newer version); the text says which.
    #[error("{0}")]
    Corrupt(String),
}
