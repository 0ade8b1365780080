//! Slows down password guessing along two dimensions, each a count of failed logins in a
//! fixed [`WINDOW`] from the first failure:
//!
//! - per account (the normalised email): after [`MAX_FAILURES_PER_ACCOUNT`] failures, every
//!   attempt for that email is refused until the window passes, from any address and even
//!   with the right password (a guesser must not learn that a guess was right);
//! - per client address: after [`MAX_FAILURES_PER_ADDRESS`] failures from one address,
//!   whatever the emails, every attempt from it is refused, so one machine cannot spray
//!   a few guesses over many accounts. A success does not clear an address's count: one
//!   account the attacker owns must not buy more guesses at others.
//!
//! The address is the TCP peer unless the operator says how many trusted proxies stand in
//! front (see [`client_address`]); an IPv6 address counts by its /64, the block one
//! subscriber usually holds. In memory and per instance: behind a load balancer with N
//! instances, the bounds are N times these.

use axum::http::HeaderMap;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES_PER_ACCOUNT: u32 = 10;
pub const MAX_FAILURES_PER_ADDRESS: u32 = 30;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Entries are swept when a map grows past this, so random emails or addresses cannot
/// grow it without bound.
const SWEEP_ABOVE: usize = 10_000;

/// Why a log-in was refused before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lockout {
    Account { retry_after_secs: u64 },
    Address { retry_after_secs: u64 },
}

impl Lockout {
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Lockout::Account { retry_after_secs } | Lockout::Address { retry_after_secs } => retry_after_secs,
        }
    }

    pub fn message(self) -> String {
        match self {
            Lockout::Account { retry_after_secs } => format!(
                "too many failed log-in attempts for this account; retry in {retry_after_secs} s (at most \
                 {MAX_FAILURES_PER_ACCOUNT} failures per {} minutes)",
                WINDOW.as_secs() / 60
            ),
            Lockout::Address { retry_after_secs } => format!(
                "too many failed log-in attempts from your address; retry in {retry_after_secs} s (at most \
                 {MAX_FAILURES_PER_ADDRESS} failures per {} minutes)",
                WINDOW.as_secs() / 60
            ),
        }
    }
}

#[derive(Default)]
pub struct LoginLimiter {
    accounts: Counter<String>,
    addresses: Counter<IpAddr>,
}

impl LoginLimiter {
    /// `Err` when this email or this address is locked out.
    pub fn check(&self, email: &str, address: IpAddr) -> Result<(), Lockout> {
        if let Some(wait) = self.accounts.locked(email, MAX_FAILURES_PER_ACCOUNT) {
            return Err(Lockout::Account { retry_after_secs: wait });
        }
        if let Some(wait) = self.addresses.locked(&address_key(address), MAX_FAILURES_PER_ADDRESS) {
            return Err(Lockout::Address { retry_after_secs: wait });
        }
        Ok(())
    }

    pub fn record_failure(&self, email: &str, address: IpAddr) {
        self.accounts.bump(email.to_owned());
        self.addresses.bump(address_key(address));
    }

    /// Clears the account's count (the owner got in), not the address's.
    pub fn record_success(&self, email: &str) {
        self.accounts.map.lock().unwrap_or_else(|e| e.into_inner()).remove(email);
    }
}

struct Counter<K> {
    map: Mutex<HashMap<K, (u32, Instant)>>,
}

impl<K> Default for Counter<K> {
    fn default() -> Self {
        Counter { map: Mutex::new(HashMap::new()) }
    }
}

impl<K: std::hash::Hash + Eq> Counter<K> {
    /// Seconds left of the lockout, if `key` has `max` failures in the current window.
    fn locked<Q>(&self, key: &Q, max: u32) -> Option<u64>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some((count, since)) if *count >= max && since.elapsed() < WINDOW => {
                Some((WINDOW - since.elapsed()).as_secs().max(1))
            }
            _ => None,
        }
    }

    fn bump(&self, key: K) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let entry = map.entry(key).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

/// IPv4 addresses count one by one; IPv6 ones by their /64 (one subscriber's block, in
/// which an attacker could otherwise pick a fresh address per guess).
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// The address a log-in is counted against. With `trusted_proxy_hops = 0` (the default)
/// it is the TCP peer, and `X-Forwarded-For` is ignored: any client can write that header.
/// With `n` trusted proxies in front, each appending the address it saw to
/// `X-Forwarded-For`, the client is the `n`-th entry from the right (entries further left
/// were written by the client and prove nothing); if the header has fewer entries or the
/// entry is not an address, the peer is used.
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, trusted_proxy_hops: u8) -> IpAddr {
    if trusted_proxy_hops == 0 {
        return peer.ip();
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let hops = usize::from(trusted_proxy_hops);
    entries.len().checked_sub(hops).and_then(|i| entries[i].parse::<IpAddr>().ok()).unwrap_or_else(|| peer.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const AWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn locks_an_account_out_after_repeated_failures_from_anywhere() {
        let l = LoginLimiter::default();
        for i in 0..MAX_FAILURES_PER_ACCOUNT - 1 {
            l.record_failure("a@b.c", IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i as u8)));
        }
        assert!(l.check("a@b.c", HOME).is_ok());
        l.record_failure("a@b.c", AWAY);
        assert!(matches!(l.check("a@b.c", HOME), Err(Lockout::Account { .. })));
        assert!(l.check("other@b.c", HOME).is_ok(), "other accounts from the same address are fine");
        l.record_success("a@b.c");
        assert!(l.check("a@b.c", HOME).is_ok());
    }

    #[test]
    fn locks_an_address_out_after_failures_over_many_accounts() {
        let l = LoginLimiter::default();
        for i in 0..MAX_FAILURES_PER_ADDRESS {
            l.record_failure(&format!("user{i}@b.c"), HOME);
        }
        let locked = l.check("fresh@b.c", HOME);
        assert!(matches!(locked, Err(Lockout::Address { .. })), "{locked:?}");
        assert!(locked.unwrap_err().message().contains("retry in"));
        assert!(l.check("fresh@b.c", AWAY).is_ok());
        l.record_success("user0@b.c");
        assert!(l.check("fresh@b.c", HOME).is_err(), "a success does not clear the address");
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let l = LoginLimiter::default();
        for i in 0..MAX_FAILURES_PER_ADDRESS {
            let a: IpAddr = format!("2001:db8:1:2::{:x}", i + 1).parse().unwrap();
            l.record_failure(&format!("user{i}@b.c"), a);
        }
        assert!(l.check("x@b.c", "2001:db8:1:2:ffff::9".parse().unwrap()).is_err());
        assert!(l.check("x@b.c", "2001:db8:1:3::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn forwarded_for_is_ignored_unless_proxies_are_trusted() {
        let peer: SocketAddr = "10.0.0.9:4000".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.7, 198.51.100.4".parse().unwrap());
        assert_eq!(client_address(peer, &h, 0), peer.ip());
        assert_eq!(client_address(peer, &h, 1), "198.51.100.4".parse::<IpAddr>().unwrap());
        assert_eq!(client_address(peer, &h, 2), "203.0.113.7".parse::<IpAddr>().unwrap());
        assert_eq!(client_address(peer, &h, 3), peer.ip(), "fewer entries than hops: the peer");
        assert_eq!(client_address(peer, &HeaderMap::new(), 1), peer.ip());
        h.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(client_address(peer, &h, 1), peer.ip());
    }
}
