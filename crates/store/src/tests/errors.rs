//! Errors name the config section and say what to check; readiness pings.

use std::time::Duration;

use crate::tests::{Backend, Fixture};
use crate::{RedisConn, Store, StoreError};

#[tokio::test]
async fn a_bad_redis_url_names_the_setting() {
    let err = Store::redis("nonsense://x", "p:", "cache")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadConfig { .. }), "{err:?}");
    assert!(err.to_string().starts_with("cache.redis_url: "), "{err}");
}

#[tokio::test]
async fn an_unreachable_redis_names_the_section_and_hides_the_password() {
    let err = RedisConn::connect("redis://:hunter2@127.0.0.1:1", "rate_limits")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("rate_limits: cannot connect to Redis at redis://:***@127.0.0.1:1: "),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn ping_answers_on_every_backend() {
    for backend in [Backend::Memory, Backend::Sqlite, Backend::Redis] {
        let fixture = Fixture::new(backend).await;
        fixture.store.ping(Duration::from_secs(2)).await.unwrap();
        assert_eq!(
            fixture.store.backend_name(),
            format!("{backend:?}").to_lowercase()
        );
    }
}
