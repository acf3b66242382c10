//! Session admission on one core: who may open a new session, and why not.
//!
//! Each transport may hold its share of the core's registry slice (the shares add up to at
//! most the slice, so a flood on one transport fills only its own share), each client address
//! a bounded number of Streamable HTTP sessions. A [`Refusal`] names the limit, the numbers and
//! when to retry; it is counted by transport and reason (`/metrics`) and logged at most once
//! per [`SESSION_REFUSAL_LOG_MS`] for each transport and reason. `ping` never needs a session,
//! and sessions already open are never touched.
//!
//! I/O-free and clock-free: the caller passes the registry's fill and `now_ms`.

use super::metrics::{Reason, Transport, REASON_COUNT, REASON_LABELS, TRANSPORT_COUNT, TRANSPORT_LABELS};
use crate::config::Settings;
use crate::jsonrpc::{code, RpcError};
use crate::limits::{CLIENT_IPV6_PREFIX_BITS, SESSION_REFUSAL_LOG_MS, SESSION_SWEEP_MS, STDIO_SESSIONS_MAX};
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

/// A refused session: the limit that was hit, with the numbers a client or operator needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub transport: Transport,
    pub reason: Reason,
    pub core: usize,
    /// Sessions held against the limit that was hit (the transport's, the address's, the
    /// registry's), and that limit.
    pub held: usize,
    pub limit: usize,
    /// The client's address key ([`client_key`]) when the address was the limit.
    pub client: Option<IpAddr>,
    pub retry_after_ms: u64,
    /// What failed, for [`Reason::Internal`].
    pub detail: Option<String>,
}

/// `data` of a refusal's JSON-RPC error.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefusalData {
    retry_after_ms: u64,
    reason: &'static str,
    transport: &'static str,
    held: usize,
    limit: usize,
    core: usize,
}

impl Refusal {
    /// The HTTP status: 429 when this client holds too many sessions, 503 when the server
    /// cannot take more.
    pub fn status(&self) -> u16 {
        match self.reason {
            Reason::AddressFull => 429,
            _ => 503,
        }
    }

    /// The `Retry-After` header: whole seconds, rounded up.
    pub fn retry_after_s(&self) -> u64 {
        self.retry_after_ms.div_ceil(1_000).max(1)
    }

    /// The JSON-RPC error: -32010 (overloaded) with `data` naming the reason and the numbers;
    /// -32603 when no id could be made.
    pub fn rpc_error(&self) -> RpcError {
        let label = TRANSPORT_LABELS[self.transport as usize];
        let (core, held, limit) = (self.core, self.held, self.limit);
        let on_connection = matches!(self.transport, Transport::Tcp | Transport::WebSocket);
        let then = if on_connection { "ping is still served; retry initialize later" } else { "retry later" };
        let message = match self.reason {
            Reason::TransportFull if self.transport == Transport::Stdio => {
                format!("Server overloaded: a stdio process serves {STDIO_SESSIONS_MAX} session")
            }
            Reason::TransportFull => format!(
                "Server overloaded: core {core} holds {held} of {limit} {label} sessions \
                 ({label}_session_share_percent); {then}"
            ),
            Reason::AddressFull => format!(
                "Too many sessions: {} holds {held} of {limit} {label} sessions on core {core} \
                 (max_http_sessions_per_address_per_core); end one with DELETE or retry later",
                address_text(self.client)
            ),
            Reason::RegistryFull => format!(
                "Server overloaded: the session registry of core {core} holds {held} of {limit} sessions \
                 (max_sessions_per_core); {then}"
            ),
            Reason::Internal => {
                let detail = self.detail.as_deref().unwrap_or("unknown error");
                return RpcError::new(code::INTERNAL_ERROR, format!("Internal error: cannot open a session: {detail}"));
            }
        };
        let data = RefusalData {
            retry_after_ms: self.retry_after_ms,
            reason: REASON_LABELS[self.reason as usize],
            transport: label,
            held,
            limit,
            core,
        };
        RpcError::new(code::OVERLOADED, message).with_data(&data)
    }
}

/// `127.0.0.1`, or `2001:db8::/64` for an IPv6 prefix.
fn address_text(client: Option<IpAddr>) -> String {
    match client {
        Some(IpAddr::V6(v6)) => format!("{v6}/{CLIENT_IPV6_PREFIX_BITS}"),
        Some(v4) => v4.to_string(),
        None => "this client".to_string(),
    }
}

/// What one client is counted as: an IPv4 address (IPv4-mapped IPv6 included) as is, an IPv6
/// address by its first [`CLIENT_IPV6_PREFIX_BITS`] bits.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mask = u128::MAX.checked_shl(128 - CLIENT_IPV6_PREFIX_BITS).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        },
    }
}

/// One core's admission state: sessions held per transport and per HTTP client, refusals.
#[derive(Debug)]
pub(crate) struct Admission {
    core: usize,
    /// Most sessions of each transport, indexed by `Transport as usize`; each at least 1.
    limits: [usize; TRANSPORT_COUNT],
    held: [Cell<usize>; TRANSPORT_COUNT],
    per_address_limit: usize,
    /// HTTP sessions per client key; an address holding none has no entry, so the map is
    /// bounded by the HTTP share.
    per_address: RefCell<HashMap<IpAddr, usize>>,
    refusals: [[Cell<u64>; REASON_COUNT]; TRANSPORT_COUNT],
    /// Per transport and reason: when the next log line may go out, and refusals since the last.
    log: [[Cell<(u64, u64)>; REASON_COUNT]; TRANSPORT_COUNT],
    warn_percent: u64,
    retry_after_ms: u64,
}

impl Admission {
    /// Core `core`'s admission, with the shares and caps of `settings`.
    pub fn new(core: usize, settings: &Settings) -> Admission {
        let mut limits = [0; TRANSPORT_COUNT];
        limits[Transport::Tcp as usize] = settings.session_share(settings.tcp_session_share_percent);
        limits[Transport::Http as usize] = settings.session_share(settings.http_session_share_percent);
        limits[Transport::WebSocket as usize] = settings.session_share(settings.websocket_session_share_percent);
        limits[Transport::Stdio as usize] = STDIO_SESSIONS_MAX;
        assert!(limits.iter().all(|&l| l >= 1), "every transport admits at least one session");
        Admission {
            core,
            limits,
            held: Default::default(),
            per_address_limit: settings.max_http_sessions_per_address_per_core as usize,
            per_address: RefCell::new(HashMap::new()),
            refusals: Default::default(),
            log: Default::default(),
            warn_percent: settings.session_warn_percent,
            // Handshake-less sessions have ended by then, and the next sweep has freed them.
            retry_after_ms: settings.session_handshake_timeout_ms + SESSION_SWEEP_MS,
        }
    }

    /// Whether one more session of `transport` (from `client`, a [`client_key`], for HTTP) fits,
    /// given the registry slice's fill. A refusal is counted and logged.
    pub fn check(
        &self,
        transport: Transport,
        client: Option<IpAddr>,
        registry_len: usize,
        registry_capacity: usize,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        let t = transport as usize;
        let refusal = |reason, held, limit, client| Refusal {
            transport,
            reason,
            core: self.core,
            held,
            limit,
            client,
            retry_after_ms: self.retry_after_ms,
            detail: None,
        };
        let by_address = client.map_or(0, |c| self.per_address.borrow().get(&c).copied().unwrap_or(0));
        let refused = if by_address >= self.per_address_limit {
            refusal(Reason::AddressFull, by_address, self.per_address_limit, client)
        } else if self.held[t].get() >= self.limits[t] {
            refusal(Reason::TransportFull, self.held[t].get(), self.limits[t], None)
        } else if registry_len >= registry_capacity {
            refusal(Reason::RegistryFull, registry_len, registry_capacity, None)
        } else {
            return Ok(());
        };
        Err(self.refused(refused, now_ms))
    }

    /// A refusal for which admission is not to blame (no id could be made), counted and logged.
    pub fn internal(&self, transport: Transport, detail: String, now_ms: u64) -> Refusal {
        let t = transport as usize;
        let refusal = Refusal {
            transport,
            reason: Reason::Internal,
            core: self.core,
            held: self.held[t].get(),
            limit: self.limits[t],
            client: None,
            retry_after_ms: self.retry_after_ms,
            detail: Some(detail),
        };
        self.refused(refusal, now_ms)
    }

    /// Counts a session of `transport` (from `client`) that got into the registry.
    pub fn admitted(&self, transport: Transport, client: Option<IpAddr>) {
        let held = &self.held[transport as usize];
        debug_assert!(held.get() < self.limits[transport as usize], "{transport:?} admitted over its share");
        held.set(held.get() + 1);
        if let Some(c) = client {
            *self.per_address.borrow_mut().entry(c).or_insert(0) += 1;
        }
    }

    /// Counts a session of `transport` (from `client`) that left the registry.
    pub fn released(&self, transport: Transport, client: Option<IpAddr>) {
        let held = &self.held[transport as usize];
        assert!(held.get() > 0, "{transport:?} session released more often than admitted");
        held.set(held.get() - 1);
        if let Some(c) = client {
            let mut per_address = self.per_address.borrow_mut();
            let count = per_address.get_mut(&c).expect("a released client was admitted");
            *count -= 1;
            if *count == 0 {
                per_address.remove(&c);
            }
        }
    }

    /// Sessions of `transport` held now.
    pub fn held(&self, transport: Transport) -> usize {
        self.held[transport as usize].get()
    }

    /// Whether the registry slice or a network transport's share is at or over the warn mark
    /// (stdio is left out: its one session is always 100 % of its share).
    pub fn is_degraded(&self, registry_len: usize, registry_capacity: usize) -> bool {
        let over = |held: usize, limit: usize| held as u64 * 100 >= limit as u64 * self.warn_percent;
        let network = [Transport::Tcp, Transport::Http, Transport::WebSocket];
        over(registry_len, registry_capacity) || network.iter().any(|&t| over(self.held(t), self.limits[t as usize]))
    }

    /// Sessions held and limits by transport, refusals by transport and reason, for metrics.
    pub fn counts(&self) -> ([u64; TRANSPORT_COUNT], [u64; TRANSPORT_COUNT], [[u64; REASON_COUNT]; TRANSPORT_COUNT]) {
        let held = self.held.each_ref().map(|c| c.get() as u64);
        let limits = self.limits.map(|l| l as u64);
        let refusals = self.refusals.each_ref().map(|row| row.each_ref().map(Cell::get));
        (held, limits, refusals)
    }

    fn refused(&self, refusal: Refusal, now_ms: u64) -> Refusal {
        let (t, r) = (refusal.transport as usize, refusal.reason as usize);
        let count = &self.refusals[t][r];
        count.set(count.get() + 1);
        let slot = &self.log[t][r];
        let (next_log_ms, unlogged) = slot.get();
        if now_ms < next_log_ms {
            slot.set((next_log_ms, unlogged + 1));
        } else {
            slot.set((now_ms + SESSION_REFUSAL_LOG_MS, 0));
            let earlier = match unlogged {
                0 => String::new(),
                n => format!(" ({n} more refused like it since the last line)"),
            };
            log::warn!("core {}: new session refused: {}{earlier}", self.core, refusal.rpc_error().message);
        }
        refusal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_sessions: u64, per_address: u64) -> Settings {
        Settings {
            max_sessions_per_core: max_sessions,
            max_http_sessions_per_address_per_core: per_address,
            ..Settings::default()
        }
    }

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn each_transport_fills_only_its_own_share() {
        let a = Admission::new(0, &settings(100, 1_000));
        for _ in 0..50 {
            a.check(Transport::Http, Some(LOOPBACK), 0, 100, 0).unwrap();
            a.admitted(Transport::Http, Some(LOOPBACK));
        }
        let refused = a.check(Transport::Http, Some(LOOPBACK), 50, 100, 0).unwrap_err();
        assert_eq!(
            (refused.reason, refused.held, refused.limit, refused.status()),
            (Reason::TransportFull, 50, 50, 503)
        );
        for t in [Transport::Tcp, Transport::WebSocket, Transport::Stdio] {
            a.check(t, None, 50, 100, 0).unwrap();
        }
        a.released(Transport::Http, Some(LOOPBACK));
        a.check(Transport::Http, Some(LOOPBACK), 49, 100, 0).unwrap();
        let (held, limits, refusals) = a.counts();
        assert_eq!((held, limits), ([0, 49, 0, 0], [25, 50, 25, 1]));
        assert_eq!(refusals[Transport::Http as usize], [1, 0, 0, 0]);
    }

    #[test]
    fn an_address_at_its_cap_gets_429_and_others_still_get_in() {
        let a = Admission::new(3, &settings(100, 2));
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
        for _ in 0..2 {
            a.admitted(Transport::Http, Some(LOOPBACK));
        }
        let refused = a.check(Transport::Http, Some(LOOPBACK), 2, 100, 0).unwrap_err();
        assert_eq!((refused.reason, refused.held, refused.limit, refused.status()), (Reason::AddressFull, 2, 2, 429));
        a.check(Transport::Http, Some(other), 2, 100, 0).unwrap();
        let e = refused.rpc_error();
        assert_eq!(
            (e.code, e.message.as_ref()),
            (
                -32010,
                "Too many sessions: 127.0.0.1 holds 2 of 2 http sessions on core 3 \
             (max_http_sessions_per_address_per_core); end one with DELETE or retry later"
            )
        );
        assert_eq!(
            e.data.as_deref(),
            Some(r#"{"retryAfterMs":6000,"reason":"address_full","transport":"http","held":2,"limit":2,"core":3}"#)
        );
        assert_eq!(refused.retry_after_s(), 6);
        for _ in 0..2 {
            a.released(Transport::Http, Some(LOOPBACK));
        }
        assert!(a.per_address.borrow().is_empty(), "an address with no session is forgotten");
    }

    #[test]
    fn connection_transports_say_ping_still_works() {
        let a = Admission::new(0, &settings(4, 256));
        a.admitted(Transport::Tcp, None);
        let e = a.check(Transport::Tcp, None, 1, 4, 0).unwrap_err().rpc_error();
        assert_eq!(
            e.message,
            "Server overloaded: core 0 holds 1 of 1 tcp sessions (tcp_session_share_percent); \
             ping is still served; retry initialize later"
        );
        let full = a.check(Transport::WebSocket, None, 4, 4, 0).unwrap_err();
        assert_eq!((full.reason, full.held, full.limit), (Reason::RegistryFull, 4, 4));
        let internal = a.internal(Transport::Http, "the OS random source failed".into(), 0).rpc_error();
        assert_eq!(
            (internal.code, internal.message.as_ref()),
            (-32603, "Internal error: cannot open a session: the OS random source failed")
        );
    }

    #[test]
    fn degraded_at_the_warn_mark_of_any_network_share_or_the_registry() {
        let a = Admission::new(0, &settings(100, 1_000));
        assert!(!a.is_degraded(0, 100));
        for _ in 0..44 {
            a.admitted(Transport::Http, None);
        }
        assert!(!a.is_degraded(44, 100));
        a.admitted(Transport::Http, None);
        assert!(a.is_degraded(45, 100), "45 of 50 is 90 %");
        let b = Admission::new(0, &settings(100, 1_000));
        b.admitted(Transport::Stdio, None);
        assert!(!b.is_degraded(1, 100), "stdio's single session is not a fill");
        assert!(b.is_degraded(90, 100));
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        assert_eq!(client_key(v6("2001:db8:1:2:aaaa::1")), v6("2001:db8:1:2::"));
        assert_eq!(client_key(v6("2001:db8:1:2:ffff::9")), client_key(v6("2001:db8:1:2::1")));
        assert_ne!(client_key(v6("2001:db8:1:3::1")), client_key(v6("2001:db8:1:2::1")));
        assert_eq!(client_key(v6("::ffff:192.0.2.1")), IpAddr::V4("192.0.2.1".parse().unwrap()));
        assert_eq!(client_key(LOOPBACK), LOOPBACK);
        assert_eq!(address_text(Some(client_key(v6("2001:db8::5")))), "2001:db8::/64");
    }

    #[test]
    fn refusals_are_logged_at_most_once_per_interval_and_all_counted() {
        let a = Admission::new(0, &settings(4, 256));
        a.admitted(Transport::WebSocket, None);
        for now_ms in [0, 1, SESSION_REFUSAL_LOG_MS - 1] {
            a.check(Transport::WebSocket, None, 1, 4, now_ms).unwrap_err();
        }
        assert_eq!(a.log[Transport::WebSocket as usize][0].get(), (SESSION_REFUSAL_LOG_MS, 2));
        a.check(Transport::WebSocket, None, 1, 4, SESSION_REFUSAL_LOG_MS).unwrap_err();
        assert_eq!(a.log[Transport::WebSocket as usize][0].get(), (2 * SESSION_REFUSAL_LOG_MS, 0));
        assert_eq!(a.counts().2[Transport::WebSocket as usize], [4, 0, 0, 0]);
    }
}
