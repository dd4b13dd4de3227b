//! Resource subscriptions of shared sessions. A session-era client subscribes to a resource
//! through whichever replica the balancer picks; that replica subscribes upstream (its own
//! upstream connection), and the updates it hears go to the replica holding the session's
//! stream (`letters.rs`). The store keeps, per session, which replica holds each subscription
//! (`subs:<session>`: URI → replica), so an unsubscribe received elsewhere reaches the holder,
//! and a replica that dies takes no subscription with it: the replica holding the session's
//! stream finds subscriptions whose holder no longer listens to its channel (`PUBSUB NUMSUB`:
//! a dead process's connection is gone) and takes them over.

use std::collections::HashMap;
use std::time::Duration;

use switchboard_store::redis::AsyncCommands;

use crate::{Cluster, ClusterError, bounded};

/// Set a URI's holder only if it is still the one the caller found (two replicas taking over
/// the same subscription: one wins).
const TAKE: &str = "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then \
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) return 1 else return 0 end";

/// Remove a URI and say who held it.
const DROP: &str = "local r = redis.call('HGET', KEYS[1], ARGV[1]) \
    redis.call('HDEL', KEYS[1], ARGV[1]) return r";

impl Cluster {
    pub(crate) fn subscriptions_key(&self, session: &str) -> String {
        self.key("subs", session)
    }

    /// This replica holds `session`'s subscription to `uri` (upstream); kept as long as the
    /// session's record (`ttl`, renewed with it).
    pub async fn record_subscription(
        &self,
        session: &str,
        uri: &str,
        ttl: Duration,
    ) -> Result<(), ClusterError> {
        let key = self.subscriptions_key(session);
        let mut conn = self.store.conn().manager();
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let mut pipe = switchboard_store::redis::pipe();
        pipe.hset(&key, uri, &self.replica)
            .ignore()
            .pexpire(&key, ms)
            .ignore();
        bounded(pipe.query_async::<()>(&mut conn)).await
    }

    /// `session` no longer subscribes to `uri`: the replica that held the subscription, if
    /// one did.
    pub async fn drop_subscription(
        &self,
        session: &str,
        uri: &str,
    ) -> Result<Option<String>, ClusterError> {
        let mut conn = self.store.conn().manager();
        bounded(
            switchboard_store::redis::Script::new(DROP)
                .key(self.subscriptions_key(session))
                .arg(uri)
                .invoke_async::<Option<String>>(&mut conn),
        )
        .await
    }

    /// `session`'s subscriptions held by replicas that no longer listen: (URI, holder).
    pub async fn orphaned_subscriptions(
        &self,
        session: &str,
    ) -> Result<Vec<(String, String)>, ClusterError> {
        let mut conn = self.store.conn().manager();
        let all: HashMap<String, String> =
            bounded(conn.hgetall(self.subscriptions_key(session))).await?;
        let mut alive: HashMap<String, bool> = HashMap::new();
        let mut orphans = Vec::new();
        for (uri, holder) in all {
            if holder == self.replica {
                continue;
            }
            let listens = match alive.get(&holder) {
                Some(l) => *l,
                None => {
                    let (_, n): (String, u64) = bounded(
                        switchboard_store::redis::cmd("PUBSUB")
                            .arg("NUMSUB")
                            .arg(self.store.channel_name(&Self::channel(&holder)))
                            .query_async::<(String, u64)>(&mut conn),
                    )
                    .await?;
                    alive.insert(holder.clone(), n > 0);
                    n > 0
                }
            };
            if !listens {
                orphans.push((uri, holder));
            }
        }
        Ok(orphans)
    }

    /// Take `session`'s subscription to `uri` over from `from` (which no longer listens):
    /// `true` when this replica now holds it, `false` when another replica got there first.
    pub async fn take_subscription(
        &self,
        session: &str,
        uri: &str,
        from: &str,
    ) -> Result<bool, ClusterError> {
        let mut conn = self.store.conn().manager();
        let took: i64 = bounded(
            switchboard_store::redis::Script::new(TAKE)
                .key(self.subscriptions_key(session))
                .arg(uri)
                .arg(from)
                .arg(&self.replica)
                .invoke_async(&mut conn),
        )
        .await?;
        Ok(took == 1)
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::replica;
    use std::time::Duration;

    #[tokio::test]
    async fn a_dead_holders_subscriptions_are_taken_over_once() {
        let prefix = format!("sbtest:{}:", rand::random::<u64>());
        let (a, b, c) = (
            replica(&prefix, "a").await,
            replica(&prefix, "b").await,
            replica(&prefix, "c").await,
        );
        let ttl = Duration::from_secs(60);
        // `a` listens to its channel (it is alive); `b` never does (as if it died).
        let _a_listens = a.letters().await.unwrap();
        a.record_subscription("s1", "test://one", ttl)
            .await
            .unwrap();
        b.record_subscription("s1", "test://two", ttl)
            .await
            .unwrap();
        let orphans = c.orphaned_subscriptions("s1").await.unwrap();
        assert_eq!(orphans, vec![("test://two".to_owned(), "b".to_owned())]);
        assert!(c.take_subscription("s1", "test://two", "b").await.unwrap());
        // Someone else finding the same orphan a moment later does not take it twice.
        assert!(!a.take_subscription("s1", "test://two", "b").await.unwrap());
        assert!(c.orphaned_subscriptions("s1").await.unwrap().is_empty());
        // Unsubscribing says who held it, once.
        assert_eq!(
            a.drop_subscription("s1", "test://two").await.unwrap(),
            Some("c".to_owned())
        );
        assert_eq!(a.drop_subscription("s1", "test://two").await.unwrap(), None);
        // Ending the session removes its subscriptions with its record.
        a.remove_session("s1").await.unwrap();
        assert_eq!(a.drop_subscription("s1", "test://one").await.unwrap(), None);
    }
}
