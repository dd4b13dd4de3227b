//! Circuit breakers open now, by route and candidate: the routes backend writes each change
//! (`switchboard-routes` keeps the breakers themselves), `/readyz` reads them — a route whose
//! available candidates all have open breakers has no healthy candidate. A breaker counts as
//! open until its cooldown ends: then a call may probe, so the route is ready to take it
//! (a balancer that stopped sending traffic on a failed readiness check would otherwise never
//! let the probe through).

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::RwLock;

#[derive(Debug, Default)]
pub struct Breakers {
    /// (route, candidate tool) → until when the breaker is open.
    open: RwLock<HashMap<(String, String), Instant>>,
}

impl Breakers {
    /// The breaker of `candidate` in `route` opened until `until`.
    pub fn opened(&self, route: &str, candidate: &str, until: Instant) {
        self.open
            .write()
            .insert((route.to_owned(), candidate.to_owned()), until);
    }

    /// The breaker of `candidate` in `route` closed (or its probe is in flight).
    pub fn closed(&self, route: &str, candidate: &str) {
        // Most calls find no breaker open: a read lock and no allocation for them.
        if self.open.read().is_empty() {
            return;
        }
        let key = (route.to_owned(), candidate.to_owned());
        if self.open.read().contains_key(&key) {
            self.open.write().remove(&key);
        }
    }

    /// Whether `candidate`'s breaker in `route` refuses calls now.
    pub fn is_open(&self, route: &str, candidate: &str) -> bool {
        let open = self.open.read();
        !open.is_empty()
            && open
                .get(&(route.to_owned(), candidate.to_owned()))
                .is_some_and(|until| Instant::now() < *until)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn open_until_the_cooldown_ends_or_closed() {
        let b = Breakers::default();
        assert!(!b.is_open("r", "a"));
        b.opened("r", "a", Instant::now() + Duration::from_secs(60));
        assert!(b.is_open("r", "a"));
        assert!(!b.is_open("r", "b") && !b.is_open("s", "a"));
        b.closed("r", "a");
        assert!(!b.is_open("r", "a"));
        b.opened("r", "a", Instant::now());
        assert!(
            !b.is_open("r", "a"),
            "a cooldown that is over lets a probe through"
        );
    }
}
