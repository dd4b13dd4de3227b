//! Resource subscriptions shared by client sessions: one upstream subscription per (server,
//! URI) however many sessions want it, counted, released when the last session unsubscribes or
//! ends, and renewed when the upstream restarts.

use std::collections::HashMap;

use parking_lot::Mutex;

#[derive(Default)]
pub struct Subscriptions {
    counts: Mutex<HashMap<(usize, String), usize>>,
}

impl Subscriptions {
    /// Count a subscriber; true if it is the first (the upstream must be subscribed).
    pub fn acquire(&self, server: usize, uri: &str) -> bool {
        let mut counts = self.counts.lock();
        let n = counts.entry((server, uri.to_owned())).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// Drop a subscriber; true if it was the last (the upstream must be unsubscribed).
    pub fn release(&self, server: usize, uri: &str) -> bool {
        let mut counts = self.counts.lock();
        let key = (server, uri.to_owned());
        match counts.get_mut(&key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                counts.remove(&key);
                true
            }
            None => false,
        }
    }

    /// The URIs subscribed on `server` (to renew after a restart).
    pub fn of_server(&self, server: usize) -> Vec<String> {
        self.counts
            .lock()
            .keys()
            .filter(|(s, _)| *s == server)
            .map(|(_, u)| u.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_subscribes_last_unsubscribes() {
        let s = Subscriptions::default();
        assert!(s.acquire(0, "file:///x"));
        assert!(!s.acquire(0, "file:///x"));
        assert!(s.acquire(1, "file:///x"));
        assert!(!s.release(0, "file:///x"));
        assert!(s.release(0, "file:///x"));
        assert!(!s.release(0, "file:///x"));
        assert_eq!(s.of_server(1), ["file:///x"]);
        assert!(s.of_server(0).is_empty());
    }
}
