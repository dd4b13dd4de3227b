//! Tests of [`masked`](super::masked): passwords never reach messages.

use super::masked;

#[test]
fn masks_passwords_only() {
    assert_eq!(
        masked("redis://127.0.0.1:6379/0"),
        "redis://127.0.0.1:6379/0"
    );
    assert_eq!(
        masked("redis://:s3cret@host:6379"),
        "redis://:***@host:6379"
    );
    assert_eq!(
        masked("rediss://me:s3cret@host/2"),
        "rediss://me:***@host/2"
    );
    assert_eq!(masked("redis://token@host"), "redis://***@host");
    assert_eq!(masked("redis://host/?a=b@c"), "redis://host/?a=b@c");
    assert_eq!(masked("not a url"), "not a url");
}
