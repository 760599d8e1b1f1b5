//! One contract for every [`Presence`]: the same scenarios run against [`LocalPresence`]
//! (the domain's `CallPresence` in memory) and [`RedisPresence`] (the same rules as Lua
//! scripts), so the two cannot drift. The Redis runs need Redis on 127.0.0.1:6379
//! (`VYTALCALL_TEST_REDIS` names another URL) and are run with `--ignored`; each test
//! uses a key prefix of its own and removes its keys when it ends.

use super::multinode::{RedisLink, RedisPresence};
use super::presence::{Expired, LocalPresence, Presence};
use vytalcall_domain::presence::{Arrival, Departure};
use vytalcall_domain::{CallId, Millis, UserId};

const GRACE: Millis = 30_000;

fn sorted(mut users: Vec<UserId>) -> Vec<UserId> {
    users.sort();
    users
}

fn sorted_expired(mut expired: Vec<Expired>) -> Vec<Expired> {
    expired.sort_by_key(|e| (e.call, e.user));
    expired
}

/// The presence under test answers (a store that does not is a failed test, not a skip).
async fn join(p: &dyn Presence, call: CallId, user: UserId, device: &str) -> (Arrival, Vec<UserId>) {
    let (arrival, users) = p.join(call, user, device.into()).await.expect("join");
    (arrival, sorted(users))
}

async fn connected(p: &dyn Presence, call: CallId) -> Vec<UserId> {
    sorted(p.connected_users(call).await.expect("connected users"))
}

async fn participant(p: &dyn Presence, call: CallId, user: UserId) -> bool {
    p.is_participant(call, user).await.expect("is participant")
}

async fn expire(p: &dyn Presence, now: Millis) -> Vec<Expired> {
    sorted_expired(p.expire(now, GRACE).await.expect("expire"))
}

async fn the_first_device_joins_and_later_devices_change_nothing_for_others(p: &dyn Presence) {
    let (call, u1, u2) = (CallId::new_random(), UserId::new_random(), UserId::new_random());
    assert_eq!(join(p, call, u1, "a").await, (Arrival::First, vec![u1]));
    assert_eq!(join(p, call, u1, "b").await, (Arrival::AnotherDevice, vec![u1]));
    assert_eq!(join(p, call, u2, "c").await, (Arrival::First, sorted(vec![u1, u2])));
    assert_eq!(connected(p, call).await, sorted(vec![u1, u2]));
}

async fn a_user_leaves_only_with_their_last_device_and_the_last_user_empties_the_call(p: &dyn Presence) {
    let (call, u1, u2) = (CallId::new_random(), UserId::new_random(), UserId::new_random());
    join(p, call, u1, "a").await;
    join(p, call, u1, "b").await;
    join(p, call, u2, "c").await;
    assert_eq!(
        p.leave(call, u1, "a".into()).await.expect("leave"),
        (Departure::StillHere, false)
    );
    assert_eq!(
        p.leave(call, u1, "b".into()).await.expect("leave"),
        (Departure::Left, false)
    );
    assert!(!participant(p, call, u1).await);
    assert_eq!(
        p.leave(call, u1, "b".into()).await.expect("leave"),
        (Departure::Unknown, false)
    );
    assert_eq!(
        p.leave(call, u2, "c".into()).await.expect("leave"),
        (Departure::Left, true)
    );
    assert_eq!(connected(p, call).await, vec![]);
}

async fn a_dropped_user_may_come_back_from_any_device_within_the_grace_period(p: &dyn Presence) {
    let (call, u1, u2) = (CallId::new_random(), UserId::new_random(), UserId::new_random());
    join(p, call, u1, "a").await;
    join(p, call, u2, "b").await;
    let dropped = p.drop_device(call, u1, "a".into(), 1_000).await.expect("drop");
    assert_eq!(dropped, Departure::Disconnected);
    assert!(
        participant(p, call, u1).await,
        "within grace they are still a participant"
    );
    assert_eq!(connected(p, call).await, vec![u2], "but not connected");
    assert_eq!(expire(p, 1_000 + GRACE - 1).await, vec![]);
    assert_eq!(join(p, call, u1, "c").await, (Arrival::Resumed, sorted(vec![u1, u2])));
    assert_eq!(
        expire(p, 1_000 + GRACE * 10).await,
        vec![],
        "a resumed user does not expire"
    );
}

async fn after_the_grace_period_the_user_is_gone_and_an_empty_call_is_reported(p: &dyn Presence) {
    let (call, u1, u2) = (CallId::new_random(), UserId::new_random(), UserId::new_random());
    join(p, call, u1, "a").await;
    join(p, call, u2, "b").await;
    p.drop_device(call, u1, "a".into(), 0).await.expect("drop");
    let first = Expired {
        call,
        user: u1,
        call_empty: false,
    };
    assert_eq!(expire(p, GRACE).await, vec![first]);
    assert_eq!(expire(p, GRACE).await, vec![], "each expiry is reported once");
    assert!(!participant(p, call, u1).await);
    p.drop_device(call, u2, "b".into(), GRACE).await.expect("drop");
    let last = Expired {
        call,
        user: u2,
        call_empty: true,
    };
    assert_eq!(expire(p, 2 * GRACE).await, vec![last]);
    assert_eq!(
        join(p, call, u1, "d").await,
        (Arrival::First, vec![u1]),
        "after grace a join is new"
    );
}

async fn leaving_while_another_user_is_within_grace_does_not_empty_the_call(p: &dyn Presence) {
    let (call, u1, u2) = (CallId::new_random(), UserId::new_random(), UserId::new_random());
    join(p, call, u1, "a").await;
    join(p, call, u2, "b").await;
    p.drop_device(call, u2, "b".into(), 0).await.expect("drop");
    assert_eq!(
        p.leave(call, u1, "a".into()).await.expect("leave"),
        (Departure::Left, false)
    );
    let gone = Expired {
        call,
        user: u2,
        call_empty: true,
    };
    assert_eq!(expire(p, GRACE).await, vec![gone]);
}

async fn one_device_of_a_user_dropping_leaves_them_connected(p: &dyn Presence) {
    let (call, u1) = (CallId::new_random(), UserId::new_random());
    join(p, call, u1, "a").await;
    join(p, call, u1, "b").await;
    assert_eq!(
        p.drop_device(call, u1, "a".into(), 0).await.expect("drop"),
        Departure::StillHere
    );
    assert_eq!(connected(p, call).await, vec![u1]);
    assert_eq!(expire(p, GRACE * 10).await, vec![]);
    assert_eq!(
        p.drop_device(call, u1, "a".into(), 0).await.expect("drop"),
        Departure::Unknown,
        "a device already gone"
    );
}

async fn unknown_calls_and_devices_change_nothing(p: &dyn Presence) {
    let (call, other, u1) = (CallId::new_random(), CallId::new_random(), UserId::new_random());
    assert_eq!(
        p.leave(other, u1, "a".into()).await.expect("leave"),
        (Departure::Unknown, false)
    );
    assert_eq!(
        p.drop_device(other, u1, "a".into(), 0).await.expect("drop"),
        Departure::Unknown
    );
    join(p, call, u1, "a").await;
    assert_eq!(
        p.leave(call, u1, "zz".into()).await.expect("leave"),
        (Departure::Unknown, false)
    );
    assert!(!participant(p, other, u1).await);
    assert_eq!(connected(p, other).await, vec![]);
    assert_eq!(connected(p, call).await, vec![u1], "the other call is as it was");
}

async fn a_closed_call_is_forgotten_with_its_grace_periods(p: &dyn Presence) {
    let (call, u1, u2) = (CallId::new_random(), UserId::new_random(), UserId::new_random());
    join(p, call, u1, "a").await;
    join(p, call, u2, "b").await;
    p.drop_device(call, u2, "b".into(), 0).await.expect("drop");
    p.close(call).await.expect("close");
    assert!(!participant(p, call, u1).await);
    assert!(!participant(p, call, u2).await);
    assert_eq!(connected(p, call).await, vec![]);
    assert_eq!(expire(p, GRACE * 10).await, vec![], "no grace outlives its call");
    assert_eq!(join(p, call, u2, "c").await, (Arrival::First, vec![u2]));
}

async fn calls_are_independent_for_the_same_user(p: &dyn Presence) {
    let (c1, c2, u1) = (CallId::new_random(), CallId::new_random(), UserId::new_random());
    join(p, c1, u1, "a").await;
    assert_eq!(join(p, c2, u1, "a").await, (Arrival::First, vec![u1]));
    assert_eq!(
        p.drop_device(c1, u1, "a".into(), 0).await.expect("drop"),
        Departure::Disconnected
    );
    assert_eq!(connected(p, c2).await, vec![u1], "still in the other call");
    let expired = Expired {
        call: c1,
        user: u1,
        call_empty: true,
    };
    assert_eq!(expire(p, GRACE).await, vec![expired]);
    assert!(participant(p, c2, u1).await);
}

/// A Redis presence under a key prefix of its own, whose keys are removed afterwards.
struct RedisUnderTest {
    presence: RedisPresence,
    link: RedisLink,
    url: String,
    prefix: String,
}

impl RedisUnderTest {
    async fn new() -> RedisUnderTest {
        let url = std::env::var("VYTALCALL_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("vytalcall-contract-{}", uuid::Uuid::new_v4().simple());
        let link = RedisLink::connect(&url, &prefix)
            .await
            .unwrap_or_else(|e| panic!("Redis at {url} (VYTALCALL_TEST_REDIS): {e}"));
        RedisUnderTest {
            presence: RedisPresence::new(&link),
            link,
            url,
            prefix,
        }
    }

    /// Another node on the same store.
    fn other_node(&self) -> RedisPresence {
        RedisPresence::new(&self.link)
    }

    /// Removes the keys under this test's prefix that match `pattern` (`*` for all).
    async fn delete(&self, pattern: &str) {
        let client = redis::Client::open(self.url.as_str()).expect("redis url");
        let mut conn = client.get_multiplexed_async_connection().await.expect("redis");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:{pattern}", self.prefix))
            .query_async(&mut conn)
            .await
            .expect("keys");
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL").arg(keys).query_async(&mut conn).await.expect("del");
        }
    }

    async fn clean(self) {
        self.delete("*").await;
    }
}

/// Rules only a shared store has: which node's devices another node may claim.
mod redis_nodes {
    use super::*;

    #[tokio::test]
    #[ignore = "needs Redis on 127.0.0.1:6379 (or VYTALCALL_TEST_REDIS)"]
    async fn devices_a_node_publishes_before_its_first_heartbeat_are_not_claimed() {
        let redis = RedisUnderTest::new().await;
        let (call, user) = (CallId::new_random(), UserId::new_random());
        join(&redis.presence, call, user, "phone").await;
        let other = redis.other_node();
        let upkeep = other.maintain(1_000).await.expect("maintain");
        assert!(upkeep.dropped.is_empty(), "{:?}", upkeep.dropped);
        assert_eq!(connected(&other, call).await, vec![user]);
        redis.clean().await;
    }

    #[tokio::test]
    #[ignore = "needs Redis on 127.0.0.1:6379 (or VYTALCALL_TEST_REDIS)"]
    async fn a_silent_node_s_devices_are_claimed_once_by_one_other_node() {
        let redis = RedisUnderTest::new().await;
        let (call, user) = (CallId::new_random(), UserId::new_random());
        join(&redis.presence, call, user, "phone").await;
        redis.presence.maintain(1_000).await.expect("heartbeat");
        // What the node ttl does to a node that stopped: its signs of life expire.
        redis.delete("presence:node:*:alive").await;
        redis.delete("presence:node:*:joined").await;
        let (first, second) = (redis.other_node(), redis.other_node());
        let claimed = first.maintain(2_000).await.expect("maintain").dropped;
        assert_eq!(claimed, vec![(call, user)]);
        assert!(second.maintain(2_000).await.expect("maintain").dropped.is_empty());
        redis.clean().await;
    }
}

macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod local {
            use super::*;
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(&LocalPresence::default()).await;
                }
            )*
        }
        mod redis_store {
            use super::*;
            $(
                #[tokio::test]
                #[ignore = "needs Redis on 127.0.0.1:6379 (or VYTALCALL_TEST_REDIS)"]
                async fn $scenario() {
                    let redis = RedisUnderTest::new().await;
                    super::$scenario(&redis.presence).await;
                    redis.clean().await;
                }
            )*
        }
    };
}

contract! {
    the_first_device_joins_and_later_devices_change_nothing_for_others,
    a_user_leaves_only_with_their_last_device_and_the_last_user_empties_the_call,
    a_dropped_user_may_come_back_from_any_device_within_the_grace_period,
    after_the_grace_period_the_user_is_gone_and_an_empty_call_is_reported,
    leaving_while_another_user_is_within_grace_does_not_empty_the_call,
    one_device_of_a_user_dropping_leaves_them_connected,
    unknown_calls_and_devices_change_nothing,
    a_closed_call_is_forgotten_with_its_grace_periods,
    calls_are_independent_for_the_same_user,
}
