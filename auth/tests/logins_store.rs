//! Logins in the store, each scenario on MemoryStore and on RedisStore: a login is a family of
//! refresh tokens; rotating spends one and makes the next live; a spent one used again ends the
//! login; logins end one by one, all of a user's at once, or with the user; ended ones are
//! remembered for the gateways until their last access tokens expire.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};
use warren_auth::{AuthStore, Ended, Rotation, UserRecord};
use warren_contracts::event::now_millis;

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

/// Starts a login of `user` with a first token; returns (login, token).
async fn start(store: &Arc<dyn AuthStore>, user: &UserRecord, ttl: Duration) -> (String, String) {
    let (family, token) = (uuid::Uuid::new_v4().to_string(), digest());
    assert!(
        store
            .start_family(&family, &user.user_id, &token, ttl)
            .await
            .unwrap()
    );
    (family, token)
}

async fn rotate(store: &Arc<dyn AuthStore>, token: &str) -> (Rotation, String) {
    let next = digest();
    let rotation = store
        .rotate_refresh_token(token, &next, HOUR)
        .await
        .unwrap();
    (rotation, next)
}

async fn a_token_rotates_once_and_its_reuse_ends_the_login(store: Arc<dyn AuthStore>) {
    let dave = user("dave");
    assert!(store.create_user(&dave).await.unwrap());
    let (family, first) = start(&store, &dave, HOUR).await;
    let (_, other_login_token) = start(&store, &dave, HOUR).await;

    let (rotation, second) = rotate(&store, &first).await;
    let rotated = Rotation::Rotated {
        user_id: dave.user_id.clone(),
        family: family.clone(),
    };
    assert_eq!(rotation, rotated);
    let (rotation, _) = rotate(&store, &first).await;
    assert_eq!(
        rotation,
        Rotation::Reused {
            user_id: dave.user_id.clone(),
            family: family.clone(),
        },
        "a spent token used again"
    );
    assert_eq!(
        rotate(&store, &second).await.0,
        Rotation::Unknown,
        "the token that replaced it died with the login"
    );
    assert_eq!(rotate(&store, &first).await.0, Rotation::Unknown);
    assert!(
        matches!(
            rotate(&store, &other_login_token).await.0,
            Rotation::Rotated { .. }
        ),
        "the user's other login goes on"
    );
    assert_eq!(rotate(&store, &digest()).await.0, Rotation::Unknown);

    let (orphan_family, orphan) = (uuid::Uuid::new_v4().to_string(), digest());
    let unknown_user = uuid::Uuid::new_v4().to_string();
    assert!(
        !store
            .start_family(&orphan_family, &unknown_user, &orphan, HOUR)
            .await
            .unwrap(),
        "no login for a user without credentials"
    );
    assert_eq!(rotate(&store, &orphan).await.0, Rotation::Unknown);
}

async fn concurrent_rotations_of_one_token_have_one_winner(store: Arc<dyn AuthStore>) {
    let erin = user("erin");
    assert!(store.create_user(&erin).await.unwrap());
    for _ in 0..3 {
        let (_, token) = start(&store, &erin, HOUR).await;
        let mut rotations = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (store, token) = (Arc::clone(&store), token.clone());
            rotations.spawn(async move { rotate(&store, &token).await });
        }
        let results = rotations.join_all().await;
        let winners: Vec<&String> = results
            .iter()
            .filter(|(rotation, _)| matches!(rotation, Rotation::Rotated { .. }))
            .map(|(_, next)| next)
            .collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        assert!(
            results
                .iter()
                .any(|(rotation, _)| matches!(rotation, Rotation::Reused { .. })),
            "{results:?}"
        );
        assert_eq!(
            rotate(&store, winners[0]).await.0,
            Rotation::Unknown,
            "a token used twice ends the login, the winner's next token with it"
        );
    }
}

async fn logins_end_one_by_one_or_all_at_once(store: Arc<dyn AuthStore>) {
    let grace = user("grace");
    let bystander = user("heidi");
    assert!(store.create_user(&grace).await.unwrap());
    assert!(store.create_user(&bystander).await.unwrap());
    let (f1, t1) = start(&store, &grace, HOUR).await;
    let (f2, t2) = start(&store, &grace, HOUR).await;
    let (f3, t3) = start(&store, &grace, HOUR).await;
    let (_, theirs) = start(&store, &bystander, HOUR).await;

    let ended = Ended {
        user_id: grace.user_id.clone(),
        family: f1.clone(),
    };
    assert_eq!(store.end_family_of(&t1).await.unwrap(), Some(ended));
    assert_eq!(store.end_family_of(&t1).await.unwrap(), None, "once");
    assert_eq!(rotate(&store, &t1).await.0, Rotation::Unknown);
    assert_eq!(store.end_family_of(&digest()).await.unwrap(), None);

    // A spent token still names its login, so it can end it.
    let (_, t3_next) = rotate(&store, &t3).await;
    assert_eq!(
        store.end_family_of(&t3).await.unwrap().map(|e| e.family),
        Some(f3)
    );
    assert_eq!(rotate(&store, &t3_next).await.0, Rotation::Unknown);

    let (f4, t4) = start(&store, &grace, HOUR).await;
    let mut expected = vec![f2, f4];
    expected.sort();
    let mut all = store.end_families(&grace.user_id).await.unwrap();
    all.sort();
    assert_eq!(all, expected, "the logins that were going");
    assert!(store.end_families(&grace.user_id).await.unwrap().is_empty());
    for token in [&t2, &t4] {
        assert_eq!(rotate(&store, token).await.0, Rotation::Unknown);
    }
    assert!(
        matches!(rotate(&store, &theirs).await.0, Rotation::Rotated { .. }),
        "another user's login goes on"
    );
    let (_, after) = start(&store, &grace, HOUR).await;
    assert!(
        matches!(rotate(&store, &after).await.0, Rotation::Rotated { .. }),
        "a login started after works"
    );
}

async fn deleting_a_user_ends_their_logins(store: Arc<dyn AuthStore>) {
    let carol = user("carol");
    let other = user("other");
    assert!(store.create_user(&carol).await.unwrap());
    assert!(store.create_user(&other).await.unwrap());
    let (f1, t1) = start(&store, &carol, HOUR).await;
    let (f2, t2) = start(&store, &carol, HOUR).await;
    let (_, t_other) = start(&store, &other, HOUR).await;

    let deleted = store.delete_user(&carol.user_id).await.unwrap();
    assert!(deleted.existed);
    let mut families = deleted.families;
    families.sort();
    let mut expected = vec![f1, f2];
    expected.sort();
    assert_eq!(families, expected);
    assert_eq!(store.find_user("carol").await.unwrap(), None);
    for token in [&t1, &t2] {
        assert_eq!(rotate(&store, token).await.0, Rotation::Unknown);
    }
    let (family, token) = (uuid::Uuid::new_v4().to_string(), digest());
    assert!(
        !store
            .start_family(&family, &carol.user_id, &token, HOUR)
            .await
            .unwrap(),
        "a deleted user starts no login"
    );
    let again = store.delete_user(&carol.user_id).await.unwrap();
    assert!(!again.existed && again.families.is_empty(), "idempotent");

    let new_carol = user("Carol");
    assert!(
        store.create_user(&new_carol).await.unwrap(),
        "the name is free"
    );
    assert!(!store.delete_user(&carol.user_id).await.unwrap().existed);
    assert_eq!(store.find_user("carol").await.unwrap(), Some(new_carol));
    assert!(
        matches!(rotate(&store, &t_other).await.0, Rotation::Rotated { .. }),
        "other users keep their logins"
    );
}

async fn logins_expire_after_their_ttl(store: Arc<dyn AuthStore>) {
    let frank = user("frank");
    assert!(store.create_user(&frank).await.unwrap());
    let ttl = Duration::from_millis(300);
    let (_, short) = start(&store, &frank, ttl).await;
    let started = Instant::now();
    let (_, short_used_at_once) = start(&store, &frank, ttl).await;
    let (_, long) = start(&store, &frank, HOUR).await;
    assert!(
        matches!(
            rotate(&store, &short_used_at_once).await.0,
            Rotation::Rotated { .. }
        ),
        "a short login works before it expires"
    );
    // `short` expires at most `ttl` after its start returned.
    sleep_until(started + ttl + Duration::from_millis(20)).await;
    assert_eq!(rotate(&store, &short).await.0, Rotation::Unknown);
    assert!(matches!(
        rotate(&store, &long).await.0,
        Rotation::Rotated { .. }
    ));
}

async fn ended_logins_are_remembered_until_their_tokens_expire(store: Arc<dyn AuthStore>) {
    let now = now_millis();
    let (a, b) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    store
        .record_revoked(&[a.clone(), b.clone()], now + 60_000)
        .await
        .unwrap();
    store
        .record_revoked(std::slice::from_ref(&a), now + 90_000)
        .await
        .unwrap();
    store
        .record_revoked(&["long-gone".to_owned()], now - 1)
        .await
        .unwrap();
    let mut expected = vec![(a.clone(), now + 90_000), (b, now + 60_000)];
    expected.sort();
    let mut revoked = store.revoked(now).await.unwrap();
    revoked.sort();
    assert_eq!(revoked, expected, "the later end of a login named twice");
    assert_eq!(
        store.revoked(now + 70_000).await.unwrap(),
        vec![(a, now + 90_000)]
    );
    store.record_revoked(&[], now + 60_000).await.unwrap();
}

both_stores!(
    a_token_rotates_once_and_its_reuse_ends_the_login,
    concurrent_rotations_of_one_token_have_one_winner,
    logins_end_one_by_one_or_all_at_once,
    deleting_a_user_ends_their_logins,
    logins_expire_after_their_ttl,
    ended_logins_are_remembered_until_their_tokens_expire,
);

/// Redis only: the states a flow cut short half-way leaves (its steps are one command per entity,
/// in their own slots), made by hand, and what the store makes of them.
mod redis_steps {
    use super::{HOUR, digest, rotate, start, user};
    use crate::common;
    use std::sync::Arc;
    use warren_auth::{AuthStore, Ended, Rotation};
    use warren_contracts::event::now_millis;
    use warren_runtime::Redis;

    async fn run(conn: &mut Redis, command: &mut redis::Cmd) {
        let _: redis::Value = command.query_async(conn).await.unwrap();
    }

    async fn exists(conn: &mut Redis, key: &str) -> bool {
        redis::cmd("EXISTS")
            .arg(key)
            .query_async(conn)
            .await
            .unwrap()
    }

    /// What `revoked` answers now, sorted, and the times checked to lie in `within`.
    async fn answered(
        store: &Arc<dyn AuthStore>,
        within: std::ops::RangeInclusive<u64>,
    ) -> Vec<String> {
        let mut logins: Vec<String> = store
            .revoked(now_millis())
            .await
            .unwrap()
            .into_iter()
            .map(|(family, until)| {
                assert!(
                    within.contains(&until),
                    "{family}: {until} not in {within:?}"
                );
                family
            })
            .collect();
        logins.sort();
        logins
    }

    /// Every way a login ends lists it for the gateways before it ends, so one whose end the
    /// service never recorded (it stopped just after) is answered anyway, until the login would
    /// have expired; recording it replaces that entry.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_ended_login_is_answered_before_it_is_recorded() {
        common::with_redis(|store, _, _| async move {
            let (amy, bo) = (user("amy"), user("bo"));
            assert!(store.create_user(&amy).await.unwrap());
            assert!(store.create_user(&bo).await.unwrap());
            let (one, one_token) = start(&store, &amy, HOUR).await;
            let (reused, reused_token) = start(&store, &amy, HOUR).await;
            let (all, _) = start(&store, &amy, HOUR).await;
            let (deleted, _) = start(&store, &bo, HOUR).await;
            let (going, _) = start(&store, &bo, HOUR).await;
            let before = now_millis();

            assert!(store.end_family_of(&one_token).await.unwrap().is_some());
            rotate(&store, &reused_token).await;
            assert!(matches!(
                rotate(&store, &reused_token).await.0,
                Rotation::Reused { .. }
            ));
            assert_eq!(
                store.end_families(&amy.user_id).await.unwrap(),
                vec![all.clone()]
            );
            let mut bos = vec![deleted, going];
            bos.sort();
            assert_eq!(store.delete_user(&bo.user_id).await.unwrap().families, bos);

            let hour = HOUR.as_millis() as u64;
            let mut ended = vec![one, reused, all];
            ended.extend(bos);
            ended.sort();
            let latest = now_millis() + hour + 60_000;
            assert_eq!(
                answered(&store, before + hour - 1_000..=latest).await,
                ended
            );

            let until = now_millis() + 60_000;
            store.record_revoked(&ended, until).await.unwrap();
            assert_eq!(
                answered(&store, until..=until).await,
                ended,
                "once each, with the recorded time"
            );
        })
        .await;
    }

    /// A login listed as being ended whose end never happened (Redis failed in between) is not
    /// answered while it goes on; once it ends, it is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_login_listed_as_ending_that_goes_on_is_not_answered() {
        common::with_redis(|store, mut conn, prefix| async move {
            let cy = user("cy");
            assert!(store.create_user(&cy).await.unwrap());
            let (family, token) = start(&store, &cy, HOUR).await;
            let until = now_millis() + 60_000;
            run(
                &mut conn,
                redis::cmd("ZADD")
                    .arg(format!("{prefix}revoking:{{revoked:all}}"))
                    .arg(until)
                    .arg(&family),
            )
            .await;
            assert!(answered(&store, 0..=u64::MAX).await.is_empty());
            let (rotation, next) = rotate(&store, &token).await;
            assert!(matches!(rotation, Rotation::Rotated { .. }), "it goes on");

            let ended = Ended {
                user_id: cy.user_id.clone(),
                family: family.clone(),
            };
            assert_eq!(store.end_family_of(&next).await.unwrap(), Some(ended));
            assert_eq!(answered(&store, until..=u64::MAX).await, vec![family]);
        })
        .await;
    }

    /// A token's pointer is checked against its login: one naming a login that does not hold the
    /// token (or is another user's) ends and rotates nothing, and the login goes on. A rotation
    /// that finds nothing leaves no pointer for the token it would have issued.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pointer_the_login_does_not_confirm_names_nothing() {
        common::with_redis(|store, mut conn, prefix| async move {
            let dot = user("dot");
            assert!(store.create_user(&dot).await.unwrap());
            let (family, token) = start(&store, &dot, HOUR).await;
            let (stray, strangers) = (digest(), digest());
            for (digest, user_id) in [
                (&stray, dot.user_id.clone()),
                (&strangers, uuid::Uuid::new_v4().to_string()),
            ] {
                run(
                    &mut conn,
                    redis::cmd("HSET")
                        .arg(format!("{prefix}refresh:{{refresh:{digest}}}"))
                        .arg("family")
                        .arg(&family)
                        .arg("user")
                        .arg(user_id),
                )
                .await;
            }
            run(
                &mut conn,
                redis::cmd("SET")
                    .arg(format!(
                        "{prefix}refresh_state:{{family:{family}}}:{strangers}"
                    ))
                    .arg("live"),
            )
            .await;
            for digest in [&stray, &strangers] {
                let (rotation, next) = rotate(&store, digest).await;
                assert_eq!(rotation, Rotation::Unknown);
                let pointer = format!("{prefix}refresh:{{refresh:{next}}}");
                assert!(!exists(&mut conn, &pointer).await, "no pointer left");
                assert_eq!(store.end_family_of(digest).await.unwrap(), None);
            }
            assert!(answered(&store, 0..=u64::MAX).await.is_empty());
            assert!(matches!(
                rotate(&store, &token).await.0,
                Rotation::Rotated { .. }
            ));
        })
        .await;
    }

    /// A login missing from its user's index (its start stopped before indexing it) does not
    /// rotate: only indexed logins can be going, so that ending all of a user's finds them all.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_login_not_indexed_does_not_rotate() {
        common::with_redis(|store, mut conn, prefix| async move {
            let eli = user("eli");
            assert!(store.create_user(&eli).await.unwrap());
            let (family, token) = start(&store, &eli, HOUR).await;
            run(
                &mut conn,
                redis::cmd("ZREM")
                    .arg(format!("{prefix}user_families:{{user:{}}}", eli.user_id))
                    .arg(&family),
            )
            .await;
            assert_eq!(rotate(&store, &token).await.0, Rotation::Unknown);
            assert!(store.end_families(&eli.user_id).await.unwrap().is_empty());
        })
        .await;
    }

    /// A user id record without credentials (a registration stopped half-way) holds no name: the
    /// name registers for someone else, and deleting the stray id leaves their credentials alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_user_id_without_credentials_holds_nothing() {
        common::with_redis(|store, mut conn, prefix| async move {
            let stray = uuid::Uuid::new_v4().to_string();
            run(
                &mut conn,
                redis::cmd("SET")
                    .arg(format!("{prefix}user_id:{{user:{stray}}}"))
                    .arg("fern"),
            )
            .await;
            let fern = user("Fern");
            assert!(store.create_user(&fern).await.unwrap());
            let deleted = store.delete_user(&stray).await.unwrap();
            assert!(!deleted.existed && deleted.families.is_empty());
            assert_eq!(store.find_user("fern").await.unwrap(), Some(fern.clone()));
            let (_, token) = start(&store, &fern, HOUR).await;
            assert!(matches!(
                rotate(&store, &token).await.0,
                Rotation::Rotated { .. }
            ));
        })
        .await;
    }

    /// Deleting a user that stopped half-way (credentials and user id gone, logins still going)
    /// is finished by deleting them again: each login is ended once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deleting_again_finishes_a_deletion_cut_short() {
        common::with_redis(|store, mut conn, prefix| async move {
            let gus = user("gus");
            assert!(store.create_user(&gus).await.unwrap());
            let (f1, t1) = start(&store, &gus, HOUR).await;
            let (f2, t2) = start(&store, &gus, HOUR).await;
            for key in [
                format!("{prefix}user:{{name:gus}}"),
                format!("{prefix}user_id:{{user:{}}}", gus.user_id),
            ] {
                run(&mut conn, redis::cmd("DEL").arg(key)).await;
            }
            let mut expected = vec![f1, f2];
            expected.sort();
            let deleted = store.delete_user(&gus.user_id).await.unwrap();
            assert!(!deleted.existed);
            assert_eq!(deleted.families, expected);
            for token in [&t1, &t2] {
                assert_eq!(rotate(&store, token).await.0, Rotation::Unknown);
            }
            let index = format!("{prefix}user_families:{{user:{}}}", gus.user_id);
            assert!(!exists(&mut conn, &index).await);
            assert!(
                store
                    .delete_user(&gus.user_id)
                    .await
                    .unwrap()
                    .families
                    .is_empty(),
                "once"
            );
        })
        .await;
    }
}
