//! The store's behaviour, each scenario on MemoryStore and on RedisStore (the real Redis at
//! `WARREN_TEST_REDIS_URL`), plus the Redis key layout. Logins and their tokens: `logins_store.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;
use warren_auth::{Admission, AuthStore, LoginLimits, RedisStore, Settle, UserRecord};
use warren_runtime::Redis;

const HOUR: Duration = Duration::from_secs(3600);

fn user(name: &str) -> UserRecord {
    UserRecord {
        user_id: uuid::Uuid::new_v4().to_string(),
        username: name.to_owned(),
        password_hash: format!("hash-of-{name}"),
    }
}

/// A digest-shaped name for a refresh token.
fn digest() -> String {
    format!("{:0>64}", uuid::Uuid::new_v4().simple())
}

async fn names_are_unique_in_any_case(store: Arc<dyn AuthStore>) {
    let alice = user("Alice");
    assert!(store.create_user(&alice).await.unwrap());
    assert!(!store.create_user(&user("ALICE")).await.unwrap());
    assert!(!store.create_user(&user("alice")).await.unwrap());
    for spelling in ["Alice", "alice", "aLiCe"] {
        let found = store.find_user(spelling).await.unwrap();
        assert_eq!(found.as_ref(), Some(&alice), "{spelling}");
    }
    assert_eq!(store.find_user("bob").await.unwrap(), None);
    let bob = user("bob");
    assert!(store.create_user(&bob).await.unwrap());
    assert_eq!(store.find_user("Bob").await.unwrap(), Some(bob));
}

const LIMITS: LoginLimits = LoginLimits {
    per_name_and_address: 3,
    per_address: 5,
    window: HOUR,
};

fn refused(admission: Admission) -> Duration {
    match admission {
        Admission::Refused { retry_after } => retry_after,
        Admission::Allowed => panic!("expected a refusal"),
    }
}

async fn login_failures_count_per_name_and_address(store: Arc<dyn AuthStore>) {
    for _ in 0..LIMITS.per_name_and_address {
        let admission = store
            .admit_login("Grace", "10.0.0.1", &LIMITS)
            .await
            .unwrap();
        assert_eq!(admission, Admission::Allowed);
    }
    let wait = refused(
        store
            .admit_login("GRACE", "10.0.0.1", &LIMITS)
            .await
            .unwrap(),
    );
    assert!(wait > Duration::ZERO && wait <= HOUR, "{wait:?}");
    assert_eq!(
        store
            .admit_login("grace", "10.0.0.2", &LIMITS)
            .await
            .unwrap(),
        Admission::Allowed,
        "another address is not locked out"
    );
    store
        .settle_login("grace", "10.0.0.1", Settle::Succeeded)
        .await
        .unwrap();
    assert_eq!(
        store
            .admit_login("grace", "10.0.0.1", &LIMITS)
            .await
            .unwrap(),
        Admission::Allowed,
        "a success clears the pair"
    );
}

async fn an_address_is_limited_across_names(store: Arc<dyn AuthStore>) {
    for i in 0..LIMITS.per_address {
        let name = format!("name{i}");
        let admission = store.admit_login(&name, "10.0.0.9", &LIMITS).await.unwrap();
        assert_eq!(admission, Admission::Allowed);
    }
    refused(
        store
            .admit_login("fresh", "10.0.0.9", &LIMITS)
            .await
            .unwrap(),
    );
    // An attempt never checked is taken back, and makes room for one more.
    store
        .settle_login("name0", "10.0.0.9", Settle::NotChecked)
        .await
        .unwrap();
    let admission = store
        .admit_login("fresh", "10.0.0.9", &LIMITS)
        .await
        .unwrap();
    assert_eq!(admission, Admission::Allowed);
    assert_eq!(
        store
            .admit_login("fresh", "10.0.0.10", &LIMITS)
            .await
            .unwrap(),
        Admission::Allowed
    );
}

async fn concurrent_attempts_are_admitted_up_to_the_limit(store: Arc<dyn AuthStore>) {
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let store = Arc::clone(&store);
        attempts.spawn(async move { store.admit_login("ivan", "10.0.0.3", &LIMITS).await });
    }
    let admitted = attempts
        .join_all()
        .await
        .into_iter()
        .filter(|a| *a.as_ref().unwrap() == Admission::Allowed)
        .count();
    assert_eq!(admitted, LIMITS.per_name_and_address as usize);
}

async fn requests_are_limited_per_address_and_window(store: Arc<dyn AuthStore>) {
    for _ in 0..3 {
        let admission = store.count_request("10.0.0.4", 3, HOUR).await.unwrap();
        assert_eq!(admission, Admission::Allowed);
    }
    let wait = refused(store.count_request("10.0.0.4", 3, HOUR).await.unwrap());
    assert!(wait > Duration::from_secs(3500) && wait <= HOUR, "{wait:?}");
    assert_eq!(
        store.count_request("10.0.0.5", 3, HOUR).await.unwrap(),
        Admission::Allowed
    );
}

both_stores!(
    names_are_unique_in_any_case,
    login_failures_count_per_name_and_address,
    an_address_is_limited_across_names,
    concurrent_attempts_are_admitted_up_to_the_limit,
    requests_are_limited_per_address_and_window,
);

async fn pttl(conn: &mut Redis, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

/// The documented key layout: everything under the prefix, what expires does, and deleting a user
/// leaves nothing of theirs behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keys_follow_the_layout() {
    common::with_redis(|store, mut conn, prefix| async move {
        let judy = user("Judy");
        let token = digest();
        assert!(store.create_user(&judy).await.unwrap());
        let family = uuid::Uuid::new_v4().to_string();
        assert!(
            store
                .start_family(&family, &judy.user_id, &token, HOUR)
                .await
                .unwrap()
        );
        store
            .record_revoked(
                &["an-ended-login".to_owned()],
                warren_contracts::event::now_millis() + 60_000,
            )
            .await
            .unwrap();
        let admitted = store.admit_login("judy", "::1", &LIMITS).await.unwrap();
        assert_eq!(admitted, Admission::Allowed);
        let counted = store.count_request("::1", 10, HOUR).await.unwrap();
        assert_eq!(counted, Admission::Allowed);

        let id = &judy.user_id;
        let key = |rest: &str| format!("{prefix}{rest}");
        let credentials = key("user:{name:judy}");
        let user_id = key(&format!("user_id:{{user:{id}}}"));
        let user_families = key(&format!("user_families:{{user:{id}}}"));
        let family_key = key(&format!("family:{{family:{family}}}"));
        let state = key(&format!("refresh_state:{{family:{family}}}:{token}"));
        let pointer = key(&format!("refresh:{{refresh:{token}}}"));
        let revoked = key("revoked:{revoked:all}");
        let revoking = key("revoking:{revoked:all}");
        let throttles = [
            key("failed_logins:{address:::1}:judy"),
            key("failed_logins_from:{address:::1}"),
            key("requests_from:{address:::1}"),
        ];
        let mut expected = vec![
            credentials.clone(),
            user_id.clone(),
            user_families.clone(),
            family_key.clone(),
            state.clone(),
            pointer.clone(),
            revoked.clone(),
        ];
        expected.extend(throttles.iter().cloned());
        expected.sort();
        assert_eq!(common::keys_under(&mut conn, &prefix).await, expected);

        assert_eq!(pttl(&mut conn, &credentials).await, -1, "credentials stay");
        assert_eq!(pttl(&mut conn, &user_id).await, -1);
        for expiring in [&family_key, &state, &pointer, &user_families]
            .into_iter()
            .chain(&throttles)
        {
            let left = pttl(&mut conn, expiring).await;
            assert!(left > 0 && left <= 3_600_000, "{expiring}: {left}");
        }
        let name: String = redis::cmd("GET")
            .arg(&user_id)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(name, "judy");
        let named: (String, String) = redis::cmd("HMGET")
            .arg(&pointer)
            .arg("family")
            .arg("user")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(named, (family.clone(), id.clone()));

        let deleted = store.delete_user(&judy.user_id).await.unwrap();
        assert!(deleted.existed);
        assert_eq!(deleted.families, vec![family]);
        let mut left = vec![pointer, state, revoked, revoking];
        left.extend(throttles);
        left.sort();
        assert_eq!(
            common::keys_under(&mut conn, &prefix).await,
            left,
            "only what expires by itself outlives the user: the throttles, the lists of ended \
             logins (this one is being ended: nobody recorded it), and the token, which names a \
             login that is gone"
        );
    })
    .await;
}

/// Two prefixes are two separate stores on one Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_prefixes_keep_stores_apart() {
    common::with_redis(|store, conn, prefix| async move {
        let other_prefix = common::unique_prefix();
        let other = RedisStore::new(conn.clone(), other_prefix.clone());
        let ken = user("ken");
        assert!(store.create_user(&ken).await.unwrap());
        assert_eq!(other.find_user("ken").await.unwrap(), None);
        assert!(other.create_user(&user("ken")).await.unwrap());
        assert_eq!(store.find_user("ken").await.unwrap(), Some(ken));
        let mut conn = conn;
        let other_keys = common::keys_under(&mut conn, &other_prefix).await;
        common::delete_keys(&mut conn, &other_prefix).await;
        assert_eq!(common::keys_under(&mut conn, &prefix).await.len(), 2);
        assert_eq!(other_keys.len(), 2);
    })
    .await;
}
