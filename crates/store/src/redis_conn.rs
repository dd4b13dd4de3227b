//! [`RedisConn`]: a shared, self-reconnecting connection to Redis for one config section.

use std::time::Duration;

use ::redis::aio::ConnectionManager;

use crate::StoreError;

/// How long [`RedisConn::connect`] waits for Redis to answer.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// A multiplexed connection to Redis that reconnects by itself; cheap to clone (clones share
/// one connection, and need no pool).
#[derive(Clone)]
pub struct RedisConn {
    manager: ConnectionManager,
    client: ::redis::Client,
    url: String,
    section: String,
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConn")
            .field("url", &self.url)
            .field("section", &self.section)
            .finish_non_exhaustive()
    }
}

impl RedisConn {
    /// Connects to Redis at `url` for config section `section` (errors name it, e.g.
    /// `cache.redis_url: …`); fails when Redis does not answer within 5 s.
    pub async fn connect(url: &str, section: &str) -> Result<RedisConn, StoreError> {
        let shown = masked(url);
        let url = url.trim();
        let client = ::redis::Client::open(url).map_err(|e| StoreError::BadConfig {
            field: format!("{section}.redis_url"),
            reason: e.to_string(),
        })?;
        let no_answer = || {
            StoreError::Timeout(format!(
                "{section}: no answer from Redis at {shown} within {CONNECT_WITHIN:?} \
                 (is Redis running, and is {section}.redis_url right?)"
            ))
        };
        let refused = |e: ::redis::RedisError| StoreError::Connect {
            section: section.to_owned(),
            backend: "Redis",
            url: shown.clone(),
            reason: e.to_string(),
        };
        // One plain attempt first, so a refused connection is reported at once (the manager
        // would retry for seconds); the manager then keeps its own connection.
        let deadline = tokio::time::Instant::now() + CONNECT_WITHIN;
        tokio::time::timeout_at(deadline, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| no_answer())?
            .map_err(refused)?;
        let manager = tokio::time::timeout_at(deadline, ConnectionManager::new(client.clone()))
            .await
            .map_err(|_| no_answer())?
            .map_err(refused)?;
        Ok(RedisConn {
            manager,
            client,
            url: shown,
            section: section.to_owned(),
        })
    }

    /// `PING`s Redis (a readiness check), bounded by `within`.
    pub async fn ping(&self, within: Duration) -> Result<(), String> {
        let mut conn = self.manager.clone();
        let ping = ::redis::cmd("PING");
        match tokio::time::timeout(within, ping.query_async::<String>(&mut conn)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {within:?}")),
        }
    }

    /// A clone of the connection, for callers running their own commands or scripts.
    pub fn manager(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// The URL this connection was made with, any password masked (for messages).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The config section this connection belongs to.
    pub fn section(&self) -> &str {
        &self.section
    }

    /// The client the connection was made from (to open dedicated connections, e.g. for
    /// pub/sub).
    pub(crate) fn client(&self) -> &::redis::Client {
        &self.client
    }
}

/// `url` with the password (or the whole user part when it has no `:`) replaced by `***`, so it
/// can appear in messages and logs.
pub(crate) fn masked(url: &str) -> String {
    let url = url.trim();
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let user = &rest[..at];
    let shown_user = match user.split_once(':') {
        Some((name, _)) => format!("{name}:***"),
        None => "***".to_owned(),
    };
    format!("{}{shown_user}{}", &url[..start], &rest[at..])
}

#[cfg(test)]
mod tests;
