//! The reloadable snapshot: the config in force and every policy object built from it
//! (authenticator, rate limits, result cache), replaced together by one swap. A request reads
//! it once, when its transport admits it (`request.rs`), and every stage judges it by that
//! copy — so a reload between two stages can never mix old and new budgets or roles.

use std::sync::Arc;

use switchboard_config::Config;

use crate::cache::ResultCache;
use switchboard_policy::auth::Authenticator;
use switchboard_policy::rate_limits::Limits;

/// One generation of the reloadable parts. Parts a reload did not change are shared with the
/// previous generation (the same `Arc`), so their state (spent budgets, cached results)
/// carries over.
pub struct Policies {
    /// The config this generation was built from.
    pub config: Arc<Config>,
    /// Who is calling (API keys, JWTs, the anonymous role).
    pub auth: Arc<Authenticator>,
    /// Per-identity request budgets by role.
    pub limits: Arc<Limits>,
    /// Kept tool results (pipeline stage 5).
    pub cache: Arc<ResultCache>,
}

impl Policies {
    /// Build every part from `config` (start-up); fails on what cannot be built (a key file, a
    /// JWT key, a Redis store that does not answer), naming the section.
    pub async fn build(config: Arc<Config>) -> Result<Self, String> {
        let limits = Limits::from_config(&config).await?;
        let auth = Authenticator::from_config(&config).map_err(|e| format!("auth: {e}"))?;
        auth.prefetch().await;
        let cache = ResultCache::from_config(&config.cache, &config.federation.separator).await?;
        Ok(Self {
            config,
            auth: Arc::new(auth),
            limits: Arc::new(limits),
            cache: Arc::new(cache),
        })
    }
}

/// Where the current generation lives: read lock-free by every request, replaced whole.
pub struct Current(arc_swap::ArcSwap<Policies>);

impl Current {
    pub fn new(first: Policies) -> Self {
        Self(arc_swap::ArcSwap::from_pointee(first))
    }

    /// The generation in force now.
    pub fn load(&self) -> Arc<Policies> {
        self.0.load_full()
    }

    /// Put `next` in force; requests admitted before keep the one they hold.
    pub fn swap(&self, next: Policies) -> Arc<Policies> {
        self.0.swap(Arc::new(next))
    }
}
