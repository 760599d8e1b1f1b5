//! How many Socket.IO connections one user and one client address may hold at once on this
//! node. A patient's script opening hundreds of sockets would otherwise hold a task, a queue
//! and presence entries for each; the caps make that cost bounded and refuse the excess in
//! the handshake, before any other work. Counts drop to nothing when the last socket goes,
//! so the table only holds who is connected now.

use crate::UserId;
use std::collections::HashMap;
use std::hash::Hash;

/// The caps: `SIGNALING_MAX_SOCKETS_PER_USER` and `SIGNALING_MAX_SOCKETS_PER_ADDRESS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    pub per_user: usize,
    pub per_address: usize,
}

/// Why one more connection is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TooMany {
    #[error("this user already holds {0} connections, the most allowed")]
    ForUser(usize),
    #[error("this address already holds {0} connections, the most allowed")]
    ForAddress(usize),
}

/// Open connections by user and by address (`A`: an IP address in the server).
#[derive(Debug)]
pub struct Connections<A> {
    caps: Caps,
    by_user: HashMap<UserId, usize>,
    by_address: HashMap<A, usize>,
}

impl<A: Hash + Eq + Clone> Connections<A> {
    pub fn new(caps: Caps) -> Self {
        Connections {
            caps,
            by_user: HashMap::new(),
            by_address: HashMap::new(),
        }
    }

    /// Whether `address` is already at its cap: checked before the token is even read.
    pub fn address_full(&self, address: Option<&A>) -> Result<(), TooMany> {
        match address.and_then(|a| self.by_address.get(a)) {
            Some(&n) if n >= self.caps.per_address => Err(TooMany::ForAddress(self.caps.per_address)),
            _ => Ok(()),
        }
    }

    /// Counts one more connection of `user` from `address`, or refuses it and counts nothing.
    pub fn admit(&mut self, user: UserId, address: Option<&A>) -> Result<(), TooMany> {
        self.address_full(address)?;
        if self.by_user.get(&user).copied().unwrap_or(0) >= self.caps.per_user {
            return Err(TooMany::ForUser(self.caps.per_user));
        }
        *self.by_user.entry(user).or_insert(0) += 1;
        if let Some(a) = address {
            *self.by_address.entry(a.clone()).or_insert(0) += 1;
        }
        Ok(())
    }

    /// One admitted connection of `user` from `address` has gone.
    pub fn release(&mut self, user: UserId, address: Option<&A>) {
        decrement(&mut self.by_user, &user);
        if let Some(a) = address {
            decrement(&mut self.by_address, a);
        }
    }

    pub fn held_by(&self, user: UserId) -> usize {
        self.by_user.get(&user).copied().unwrap_or(0)
    }

    /// How many users and addresses the table holds (bounded by who is connected).
    pub fn tracked(&self) -> (usize, usize) {
        (self.by_user.len(), self.by_address.len())
    }
}

fn decrement<K: Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps {
        per_user: 2,
        per_address: 3,
    };

    #[test]
    fn a_user_gets_their_cap_and_a_place_back_when_one_closes() {
        let mut c: Connections<&str> = Connections::new(CAPS);
        let u = UserId::new_random();
        assert_eq!(c.admit(u, Some(&"a")), Ok(()));
        assert_eq!(c.admit(u, Some(&"b")), Ok(()));
        assert_eq!(c.admit(u, Some(&"c")), Err(TooMany::ForUser(2)));
        c.release(u, Some(&"a"));
        assert_eq!(c.admit(u, Some(&"c")), Ok(()));
        assert_eq!(c.held_by(u), 2);
    }

    #[test]
    fn an_address_is_capped_across_users_and_a_refusal_counts_nothing() {
        let mut c: Connections<&str> = Connections::new(CAPS);
        let users: Vec<UserId> = (0..4).map(|_| UserId::new_random()).collect();
        for u in &users[..3] {
            assert_eq!(c.admit(*u, Some(&"nat")), Ok(()));
        }
        assert_eq!(c.address_full(Some(&"nat")), Err(TooMany::ForAddress(3)));
        assert_eq!(c.admit(users[3], Some(&"nat")), Err(TooMany::ForAddress(3)));
        assert_eq!(c.held_by(users[3]), 0, "the refused user holds nothing");
        assert_eq!(c.admit(users[3], Some(&"elsewhere")), Ok(()));
        assert_eq!(c.address_full(None), Ok(()), "no address, no address cap");
    }

    #[test]
    fn the_table_empties_when_everyone_has_gone() {
        let mut c: Connections<&str> = Connections::new(CAPS);
        let (u, v) = (UserId::new_random(), UserId::new_random());
        c.admit(u, Some(&"a")).expect("admitted");
        c.admit(v, None).expect("admitted");
        c.release(u, Some(&"a"));
        c.release(v, None);
        // A release without an admission (a bug elsewhere) never goes below zero.
        c.release(v, Some(&"a"));
        assert_eq!(c.tracked(), (0, 0));
    }
}
