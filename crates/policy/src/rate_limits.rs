//! Rate limits: per identity, at its role's rate (`100/min`), by GCRA (a burst of the whole
//! budget, refilled evenly). Budgets live in this process (`governor`) or in Redis, where one
//! atomic Lua script decides for every replica, so N gateways share one budget per identity.
//! Identities without a role, and roles without a `rate_limit`, are not limited.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use switchboard_config::{Config, LimitStore, OnStoreError};
use switchboard_store::RedisConn;
use switchboard_store::redis;

use crate::auth::Identity;

/// GCRA in one round trip: the theoretical arrival time (TAT) per key, in microseconds of the
/// Redis server's clock (one clock for every replica). KEYS[1]: the identity's key.
/// ARGV[1]: emission interval (µs), ARGV[2]: burst tolerance (µs). Returns {allowed,
/// retry_after_µs}.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - now - tolerance
if wait > 0 then
  return {0, wait}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
"#;

struct RoleLimit {
    limiter: DefaultKeyedRateLimiter<Arc<str>>,
    text: String,
    /// Emission interval and burst tolerance (GCRA), for the Redis store.
    interval: Duration,
    tolerance: Duration,
}

/// A refused request: when it may be retried.
#[derive(Debug, Clone, Copy)]
pub struct Limited {
    pub retry_after: Duration,
}

struct Redis {
    conn: RedisConn,
    script: redis::Script,
    prefix: String,
    on_error: OnStoreError,
}

/// A per-tool limit of a role.
struct ToolLimit {
    /// The tool pattern, as written (also the Redis key part).
    pattern: String,
    limit: RoleLimit,
}

#[derive(Default)]
pub struct Limits {
    roles: HashMap<String, RoleLimit>,
    tools: HashMap<String, Vec<ToolLimit>>,
    separator: String,
    redis: Option<Redis>,
}

fn role_limit(rate: &str) -> Result<Option<RoleLimit>, String> {
    let (n, period) = switchboard_config::parse_rate(rate)?;
    let (Some(burst), Some(quota)) = (NonZeroU32::new(n), Quota::with_period(period / n)) else {
        return Ok(None);
    };
    let interval = period / n;
    Ok(Some(RoleLimit {
        limiter: DefaultKeyedRateLimiter::keyed(quota.allow_burst(burst)),
        text: rate.to_owned(),
        interval,
        tolerance: interval * (n - 1),
    }))
}

impl Limits {
    /// Build from config; with `store: redis`, connect (fails if Redis cannot be reached now).
    pub async fn from_config(config: &Config) -> Result<Self, String> {
        let mut roles = HashMap::new();
        if config.auth.is_none() {
            return Ok(Self::default());
        }
        let mut tools = HashMap::new();
        for (name, role) in config.effective_roles() {
            let per_tool: Vec<ToolLimit> = role
                .tool_limits
                .iter()
                .filter_map(|(pattern, rate)| match role_limit(rate) {
                    Ok(Some(limit)) => Some(Ok(ToolLimit {
                        pattern: pattern.clone(),
                        limit,
                    })),
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<_, _>>()?;
            if !per_tool.is_empty() {
                tools.insert(name.clone(), per_tool);
            }
            if let Some(limit) = role
                .rate_limit
                .as_deref()
                .map(role_limit)
                .transpose()?
                .flatten()
            {
                roles.insert(name, limit);
            }
        }
        let rl = &config.rate_limits;
        let redis = match rl.store {
            LimitStore::Memory => None,
            LimitStore::Redis => {
                let conn = RedisConn::connect(&rl.redis_url, "rate_limits")
                    .await
                    .map_err(|e| e.to_string())?;
                Some(Redis {
                    conn,
                    script: redis::Script::new(GCRA),
                    prefix: rl.key_prefix.clone(),
                    on_error: rl.on_store_error,
                })
            }
        };
        Ok(Self {
            roles,
            tools,
            separator: config.federation.separator.clone(),
            redis,
        })
    }

    /// Spend one request of `identity`'s budget.
    pub async fn check(&self, identity: &Identity) -> Result<(), (Limited, &str)> {
        let Some(role) = identity.role.as_deref() else {
            return Ok(());
        };
        match self.roles.get(role) {
            Some(limit) => self.spend(limit, role, &identity.subject).await,
            None => Ok(()),
        }
    }

    /// Spend one call of tool `exposed` (`original` upstream) from every per-tool budget of
    /// `identity`'s role that names it.
    pub async fn check_tool(
        &self,
        identity: &Identity,
        exposed: &str,
        original: &str,
    ) -> Result<(), (Limited, &str)> {
        let Some(role) = identity.role.as_deref() else {
            return Ok(());
        };
        let Some(limits) = self.tools.get(role) else {
            return Ok(());
        };
        for t in limits {
            if crate::roles::tool_matches(&t.pattern, &self.separator, exposed, original) {
                let key = format!("{role}:tool:{}", t.pattern);
                self.spend(&t.limit, &key, &identity.subject).await?;
            }
        }
        Ok(())
    }

    async fn spend<'a>(
        &'a self,
        limit: &'a RoleLimit,
        key: &str,
        subject: &Arc<str>,
    ) -> Result<(), (Limited, &'a str)> {
        let limited = |wait: Duration| (Limited { retry_after: wait }, limit.text.as_str());
        match &self.redis {
            None => limit.limiter.check_key(subject).map_err(|not_until| {
                limited(not_until.wait_time_from(DefaultClock::default().now()))
            }),
            Some(r) => {
                let key = format!("{}{key}:{subject}", r.prefix);
                let mut conn = r.conn.manager();
                let answer: redis::RedisResult<(i64, i64)> = r
                    .script
                    .key(key)
                    .arg(u64::try_from(limit.interval.as_micros()).unwrap_or(u64::MAX))
                    .arg(u64::try_from(limit.tolerance.as_micros()).unwrap_or(u64::MAX))
                    .invoke_async(&mut conn)
                    .await;
                match answer {
                    Ok((1, _)) => Ok(()),
                    Ok((_, wait_us)) => Err(limited(Duration::from_micros(
                        u64::try_from(wait_us).unwrap_or(0),
                    ))),
                    Err(e) => {
                        tracing::error!(error = %e, "rate-limit store (Redis) failed");
                        match r.on_error {
                            OnStoreError::Allow => Ok(()),
                            OnStoreError::Deny => Err(limited(Duration::from_secs(1))),
                        }
                    }
                }
            }
        }
    }

    /// Forget identities idle long enough to have a full budget again (memory store).
    pub fn prune(&self) {
        let tool_limits = self.tools.values().flatten().map(|t| &t.limit);
        for l in self.roles.values().chain(tool_limits) {
            l.limiter.retain_recent();
            l.limiter.shrink_to_fit();
        }
    }
}

impl Limits {
    /// With `store: redis`, whether Redis answers; `None` for the in-process store.
    pub async fn ping_store(&self, within: std::time::Duration) -> Option<Result<(), String>> {
        Some(self.redis.as_ref()?.conn.ping(within).await)
    }
}

#[cfg(test)]
mod tests;
