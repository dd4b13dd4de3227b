//! Cache hints of 2026-07-28 results (`ttlMs`, `cacheScope`): reading them conservatively,
//! ageing a kept list's hint, combining the hints of the servers behind a merged list, and the
//! per-caller scope rule.

use switchboard_protocol::RawMap;

/// Who may reuse a cached result (`cacheScope`). Ordered from wide to narrow, so the larger of
/// two is the more conservative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CacheScope {
    /// The same for every caller: shared caches may serve it across authorization contexts.
    Public,
    /// Reusable only within the authorization context that fetched it.
    Private,
}

impl CacheScope {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheScope::Public => "public",
            CacheScope::Private => "private",
        }
    }
}

/// A cacheable result's freshness hint: `ttlMs` and `cacheScope` (2026-07-28).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheHint {
    pub ttl_ms: u64,
    pub scope: CacheScope,
}

impl CacheHint {
    /// What the gateway says where nobody said anything: immediately stale, and public (the
    /// scope is narrowed per caller by [`HintPolicy`]).
    pub const DEFAULT: CacheHint = CacheHint {
        ttl_ms: 0,
        scope: CacheScope::Public,
    };

    /// The more conservative of two hints: the shorter freshness and the narrower scope.
    pub fn min(self, other: CacheHint) -> CacheHint {
        CacheHint {
            ttl_ms: self.ttl_ms.min(other.ttl_ms),
            scope: self.scope.max(other.scope),
        }
    }

    /// The hint a result object carries, field by field: an absent `ttlMs` or `cacheScope`
    /// takes [`CacheHint::DEFAULT`]'s; a negative `ttlMs` is 0 (the spec's "treat as immediately
    /// stale"), any other non-integer 0; a scope other than `public` or `private` is private
    /// (what we cannot read must not widen sharing).
    pub fn read(result: &RawMap<'_>) -> CacheHint {
        let ttl_ms = match result.get("ttlMs") {
            None => Self::DEFAULT.ttl_ms,
            Some(raw) => serde_json::from_str::<u64>(raw.get()).unwrap_or(0),
        };
        let scope = match result.get("cacheScope") {
            None => Self::DEFAULT.scope,
            Some(raw) => match raw.get() {
                "\"public\"" => CacheScope::Public,
                _ => CacheScope::Private,
            },
        };
        CacheHint { ttl_ms, scope }
    }
}

/// One server's hint for one of its lists, as of the refresh that fetched it.
#[derive(Debug, Clone, Copy)]
pub struct ListHint {
    pub hint: CacheHint,
    pub fetched: std::time::Instant,
}

impl ListHint {
    /// The hint as the gateway may pass it on at `now`: the server's freshness less the age of
    /// the gateway's copy (like HTTP's `Age`), so a copy never outlives what the server allowed.
    pub fn at(&self, now: std::time::Instant) -> CacheHint {
        let age = u64::try_from(now.saturating_duration_since(self.fetched).as_millis())
            .unwrap_or(u64::MAX);
        CacheHint {
            ttl_ms: self.hint.ttl_ms.saturating_sub(age),
            scope: self.hint.scope,
        }
    }
}

/// A merged list's hint from what each server contributes: `None` for a server that cannot
/// contribute to this list (it does not offer the capability), `Some(None)` for one whose part
/// of the list carries no hint of its own (session-era, down, its last refresh failed, or not
/// yet listed), which counts as [`CacheHint::DEFAULT`], and `Some(Some(h))` for a 2026-07-28
/// server's last hint. The result is the most conservative of them all ([`CacheHint::DEFAULT`]
/// when nobody contributes).
pub fn combine(
    contributions: impl IntoIterator<Item = Option<Option<ListHint>>>,
    now: std::time::Instant,
) -> CacheHint {
    let mut combined: Option<CacheHint> = None;
    for c in contributions.into_iter().flatten() {
        let h = c.map_or(CacheHint::DEFAULT, |h| h.at(now));
        combined = Some(combined.map_or(h, |prev| prev.min(h)));
    }
    combined.unwrap_or(CacheHint::DEFAULT)
}

/// How the gateway qualifies the cache hints of a cacheable result for one caller.
#[derive(Debug, Clone, Copy)]
pub struct HintPolicy {
    /// The hint for fields the result lacks (for merged lists: the combined upstream hint).
    pub absent: CacheHint,
    /// Force `cacheScope: "private"`: the caller's view depends on who they are.
    pub private: bool,
}

impl HintPolicy {
    /// The default hint, public unless forced private.
    pub const DEFAULT: HintPolicy = HintPolicy {
        absent: CacheHint::DEFAULT,
        private: false,
    };
}

/// Whether a caller's cacheable results must be private: whenever the gateway authenticates
/// (the answer is only for authenticated callers, and other identities may be shown other
/// lists) or this caller's lists are filtered by its role. Only an unauthenticated gateway with
/// an unfiltered view may say `public` (if every contributing upstream did too).
pub fn caller_is_private(authenticates: bool, filtered: bool) -> bool {
    authenticates || filtered
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::RawValue;

    fn hint(ttl_ms: u64, scope: CacheScope) -> CacheHint {
        CacheHint { ttl_ms, scope }
    }

    fn read(json: &str) -> CacheHint {
        let raw = RawValue::from_string(json.into()).unwrap();
        CacheHint::read(&RawMap::parse(&raw).unwrap())
    }

    #[test]
    fn hints_are_read_field_by_field_and_conservatively() {
        use CacheScope::*;
        assert_eq!(
            read(r#"{"ttlMs":60000,"cacheScope":"public"}"#),
            hint(60000, Public)
        );
        assert_eq!(
            read(r#"{"ttlMs":5,"cacheScope":"private"}"#),
            hint(5, Private)
        );
        assert_eq!(read(r#"{"tools":[]}"#), CacheHint::DEFAULT);
        assert_eq!(read(r#"{"ttlMs":7}"#), hint(7, Public));
        assert_eq!(read(r#"{"cacheScope":"private"}"#), hint(0, Private));
        // Malformed: a negative, fractional or string ttl is immediately stale; an unknown
        // scope is private.
        assert_eq!(
            read(r#"{"ttlMs":-5,"cacheScope":"public"}"#),
            hint(0, Public)
        );
        assert_eq!(read(r#"{"ttlMs":1.5}"#), hint(0, Public));
        assert_eq!(read(r#"{"ttlMs":"9"}"#), hint(0, Public));
        assert_eq!(read(r#"{"cacheScope":"shared"}"#), hint(0, Private));
        assert_eq!(read(r#"{"cacheScope":null}"#), hint(0, Private));
    }

    #[test]
    fn merged_list_hint_is_the_most_conservative() {
        use CacheScope::*;
        let now = std::time::Instant::now();
        let fresh = |ttl_ms, scope| {
            Some(Some(ListHint {
                hint: hint(ttl_ms, scope),
                fetched: now,
            }))
        };
        // Smallest ttl, narrowest scope.
        assert_eq!(
            combine([fresh(60000, Public), fresh(30000, Public)], now),
            hint(30000, Public)
        );
        assert_eq!(
            combine([fresh(60000, Public), fresh(90000, Private)], now),
            hint(60000, Private)
        );
        // A server without a hint of its own (session era, down, failed) contributes the
        // default: immediately stale.
        assert_eq!(
            combine([fresh(60000, Public), Some(None)], now),
            hint(0, Public)
        );
        // A server that cannot contribute (no such capability) does not count.
        assert_eq!(
            combine([None, fresh(60000, Public), None], now),
            hint(60000, Public)
        );
        // Nobody contributes: the default.
        assert_eq!(combine([None, None], now), CacheHint::DEFAULT);
        assert_eq!(combine(Vec::new(), now), CacheHint::DEFAULT);
    }

    #[test]
    fn a_kept_list_ages() {
        let fetched = std::time::Instant::now();
        let h = ListHint {
            hint: hint(60000, CacheScope::Public),
            fetched,
        };
        let later = fetched + std::time::Duration::from_millis(45000);
        assert_eq!(h.at(later), hint(15000, CacheScope::Public));
        let much_later = fetched + std::time::Duration::from_secs(3600);
        assert_eq!(h.at(much_later), hint(0, CacheScope::Public));
        assert_eq!(
            combine([Some(Some(h))], later),
            hint(15000, CacheScope::Public)
        );
    }
}
