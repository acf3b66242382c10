//! Rate limits: the generic cell rate algorithm (GCRA, a token bucket of rate and burst kept
//! as one "theoretical arrival time" per key), per client address, per identity and per
//! session or connection, optionally per method or tool. I/O-free: time is passed in.
//!
//! Rules are written `SCOPE[:METHOD[=NAME]]:COUNT/UNIT[:BURST]` (see [`parse_rule`]). Cores
//! share nothing, so a whole-server rule is split: each core enforces `COUNT/cores` per UNIT
//! and a burst of `⌈BURST/cores⌉` ([`CoreRule::split`]). SO_REUSEPORT spreads one client's
//! connections over the cores, so the sum stays within the configured rule; one long-lived
//! connection lands on one core and gets only that core's part (conservative). `session`
//! rules are not split: a session (or a connection) is served by one core.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// Whose requests a rule counts together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One client address (IPv6: one /64); split across cores.
    Ip,
    /// One authenticated identity (token subject or API key); split across cores. Requests
    /// without an identity are not counted by identity rules.
    Identity,
    /// One 2025-11-25 Streamable HTTP session, else one connection (NDJSON, WebSocket, and
    /// 2026-07-28 or stateless HTTP requests); not split.
    Session,
}

impl Scope {
    /// Every scope, in the order of [`Scope::index`].
    pub const ALL: [Scope; 3] = [Scope::Ip, Scope::Identity, Scope::Session];
    /// The labels of [`Scope::ALL`] (`data.limit`, the metrics label).
    pub const LABELS: [&'static str; 3] = ["ip", "identity", "session"];

    /// The scope's name as in a rule and in `data.limit`.
    pub fn label(self) -> &'static str {
        Scope::LABELS[self.index()]
    }

    /// Position in [`Scope::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One configured rule, as written (whole-server numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Whose requests it counts together.
    pub scope: Scope,
    /// Only requests of this JSON-RPC method (`None`: every request).
    pub method: Option<String>,
    /// Only requests naming this tool or prompt (`name`) or resource (`uri`); needs `method`.
    pub name: Option<String>,
    /// Requests allowed per `period_ns` in the long run.
    pub count: u64,
    /// The period `count` is over, in nanoseconds (1 s, 1 min or 1 h).
    pub period_ns: u64,
    /// Requests allowed back to back from a full bucket.
    pub burst: u64,
    /// The rule as written, trimmed (for messages).
    pub text: String,
}

const NS_PER_SEC: u64 = 1_000_000_000;

/// Parses `SCOPE[:METHOD[=NAME]]:COUNT/UNIT[:BURST]`: SCOPE is `ip`, `identity` or `session`;
/// UNIT is `s`, `m` or `h`; BURST defaults to COUNT. A NAME may itself hold `:` (a resource
/// URI): the rate is found from the right.
///
/// Examples: `ip:100/s:200`, `session:tools/call:10/s:20`, `ip:tools/call=slow:1/s:1`.
pub fn parse_rule(text: &str) -> Result<Rule, String> {
    let text = text.trim();
    let bad = |why: &str| {
        Err(format!(
            "rate limit `{text}`: {why}; the form is SCOPE[:METHOD[=NAME]]:COUNT/UNIT[:BURST], e.g. ip:100/s:200"
        ))
    };
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() < 2 {
        return bad("too few parts");
    }
    let scope = match parts[0] {
        "ip" => Scope::Ip,
        "identity" => Scope::Identity,
        "session" => Scope::Session,
        _ => return bad("the scope must be ip, identity or session"),
    };
    // The rate is the last part with a `/` that parses as COUNT/UNIT; BURST may follow it.
    let last = parts.len() - 1;
    let (rate_at, burst) = match parts[last].parse::<u64>() {
        Ok(b) if last >= 2 => (last - 1, Some(b)),
        _ => (last, None),
    };
    if rate_at == 0 {
        return bad("no COUNT/UNIT");
    }
    let Some((count, unit)) = parts[rate_at].split_once('/') else { return bad("no COUNT/UNIT") };
    let Ok(count) = count.parse::<u64>() else { return bad("COUNT is not a whole number") };
    let period_ns = match unit {
        "s" => NS_PER_SEC,
        "m" => 60 * NS_PER_SEC,
        "h" => 3_600 * NS_PER_SEC,
        _ => return bad("UNIT must be s, m or h"),
    };
    if count == 0 {
        return bad("COUNT must be at least 1");
    }
    let burst = burst.unwrap_or(count);
    if burst == 0 {
        return bad("BURST must be at least 1");
    }
    let selector = parts[1..rate_at].join(":");
    let (method, name) = match selector.split_once('=') {
        _ if selector.is_empty() => (None, None),
        Some((m, n)) if !m.is_empty() && !n.is_empty() => (Some(m.to_string()), Some(n.to_string())),
        Some(_) => return bad("METHOD=NAME needs both"),
        None => (Some(selector), None),
    };
    Ok(Rule { scope, method, name, count, period_ns, burst, text: text.to_string() })
}

/// A rule as one core enforces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreRule {
    /// As in [`Rule`].
    pub scope: Scope,
    /// As in [`Rule`].
    pub method: Option<String>,
    /// As in [`Rule`].
    pub name: Option<String>,
    /// Nanoseconds between two requests in the long run on this core (GCRA's T).
    pub interval_ns: u64,
    /// This core's burst.
    pub burst: u64,
    /// How far ahead of now the arrival time may run: `(burst - 1) × interval`.
    tolerance_ns: u64,
    /// The rule as written.
    pub text: String,
}

impl CoreRule {
    /// `rule` on one of `cores` cores: `ip` and `identity` rules get COUNT/cores (the interval
    /// times `cores`) and ⌈BURST/cores⌉; `session` rules are whole.
    pub fn split(rule: &Rule, cores: usize) -> CoreRule {
        let n = if rule.scope == Scope::Session { 1 } else { cores.max(1) as u64 };
        let interval_ns = (rule.period_ns / rule.count).max(1).saturating_mul(n);
        let burst = rule.burst.div_ceil(n);
        CoreRule {
            scope: rule.scope,
            method: rule.method.clone(),
            name: rule.name.clone(),
            interval_ns,
            burst,
            tolerance_ns: interval_ns.saturating_mul(burst - 1),
            text: rule.text.clone(),
        }
    }

    fn applies(&self, method: &str, name: Option<&str>) -> bool {
        match (&self.method, &self.name) {
            (None, _) => true,
            (Some(m), None) => m == method,
            (Some(m), Some(n)) => m == method && name == Some(n.as_str()),
        }
    }
}

/// What a request is counted under: its client address key, identity and session key.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys<'a> {
    /// The client's address as a number (see [`ip_key`]); `None`: not counted by `ip` rules.
    pub ip: Option<u128>,
    /// The authenticated identity; `None`: not counted by `identity` rules.
    pub identity: Option<&'a str>,
    /// The session or connection; `None`: not counted by `session` rules.
    pub session: Option<u64>,
}

/// A client address as a table key: IPv4 as its IPv4-mapped IPv6 address, IPv6 masked to its
/// first `v6_prefix_bits` (so that one client cannot get a fresh bucket per address of its /64).
pub fn ip_key(ip: std::net::IpAddr, v6_prefix_bits: u32) -> u128 {
    match ip {
        std::net::IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        std::net::IpAddr::V6(v6) => {
            let bits = v6_prefix_bits.min(128);
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(v6) & mask
        }
    }
}

/// A request over a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// The scope of the refusing rule (`data.limit`).
    pub scope: Scope,
    /// When the request would pass, in nanoseconds from now (at least 1 ms worth rounds up).
    pub retry_after_ns: u64,
    /// Index of the rule in [`Limiter::rules`].
    pub rule: usize,
}

impl Limited {
    /// `retry_after_ns` in whole milliseconds, rounded up.
    pub fn retry_after_ms(&self) -> u64 {
        self.retry_after_ns.div_ceil(1_000_000)
    }

    /// `retry_after_ns` in whole seconds, rounded up, at least 1 (`Retry-After`).
    pub fn retry_after_s(&self) -> u64 {
        self.retry_after_ns.div_ceil(NS_PER_SEC).max(1)
    }
}

/// One core's rules and key table. The table holds at most `max_keys` entries; an entry whose
/// bucket is full again (arrival time in the past) holds nothing worth keeping and is swept.
pub struct Limiter {
    rules: Vec<CoreRule>,
    table: HashMap<(u16, u128), u64>,
    max_keys: usize,
    hasher: RandomState,
    needs_name: bool,
    /// Requests refused, by scope (indexed like [`Scope::ALL`]).
    pub limited: [u64; 3],
    /// New keys not tracked (allowed) because the table was full.
    pub table_full: u64,
    last_full_sweep_ns: u64,
}

impl Limiter {
    /// `rules` as one of `cores` cores enforces them, with at most `max_keys` keys.
    pub fn new(rules: &[Rule], cores: usize, max_keys: usize) -> Limiter {
        let rules: Vec<CoreRule> = rules.iter().map(|r| CoreRule::split(r, cores)).collect();
        Limiter {
            needs_name: rules.iter().any(|r| r.name.is_some()),
            rules,
            table: HashMap::new(),
            max_keys,
            hasher: RandomState::new(),
            limited: [0; 3],
            table_full: 0,
            last_full_sweep_ns: 0,
        }
    }

    /// Whether there is no rule at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some rule names a tool, prompt or resource (the request's name must be read).
    pub fn needs_name(&self) -> bool {
        self.needs_name
    }

    /// The rules this core enforces.
    pub fn rules(&self) -> &[CoreRule] {
        &self.rules
    }

    /// Keys held now.
    pub fn keys(&self) -> usize {
        self.table.len()
    }

    fn key(&self, rule: usize, keys: &Keys<'_>) -> Option<(u16, u128)> {
        let k = match self.rules[rule].scope {
            Scope::Ip => keys.ip?,
            Scope::Identity => u128::from(self.hasher.hash_one(keys.identity?)),
            Scope::Session => u128::from(keys.session?),
        };
        Some((rule as u16, k))
    }

    /// Counts one request of `method` (naming `name`) at `now_ns`: `Ok` if every rule that
    /// applies lets it through (each then counts it), else the rule that refuses it with the
    /// longest wait (no rule counts it).
    pub fn check(&mut self, now_ns: u64, keys: &Keys<'_>, method: &str, name: Option<&str>) -> Result<(), Limited> {
        let mut worst: Option<Limited> = None;
        let mut passed: heapless::Vec<((u16, u128), u64), 16> = heapless::Vec::new();
        let mut overflow: Vec<((u16, u128), u64)> = Vec::new();
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            if !rule.applies(method, name) {
                continue;
            }
            let Some(key) = self.key(i, keys) else { continue };
            let tat = self.table.get(&key).copied().unwrap_or(0).max(now_ns);
            let ahead = tat - now_ns;
            if ahead > rule.tolerance_ns {
                let wait = ahead - rule.tolerance_ns;
                if worst.as_ref().is_none_or(|w| wait > w.retry_after_ns) {
                    worst = Some(Limited { scope: rule.scope, retry_after_ns: wait, rule: i });
                }
            } else {
                let next = tat.saturating_add(rule.interval_ns);
                if let Err(item) = passed.push((key, next)) {
                    overflow.push(item);
                }
            }
        }
        if let Some(w) = worst {
            self.limited[w.scope.index()] += 1;
            return Err(w);
        }
        for (key, tat) in passed.into_iter().chain(overflow) {
            self.store(now_ns, key, tat);
        }
        Ok(())
    }

    fn store(&mut self, now_ns: u64, key: (u16, u128), tat: u64) {
        if let Some(slot) = self.table.get_mut(&key) {
            *slot = tat;
            return;
        }
        if self.table.len() >= self.max_keys {
            // Full: forget the idle keys (at most once a second), else let this key through
            // untracked rather than forget a busy one.
            if now_ns.saturating_sub(self.last_full_sweep_ns) >= NS_PER_SEC {
                self.last_full_sweep_ns = now_ns;
                self.sweep(now_ns);
            }
            if self.table.len() >= self.max_keys {
                self.table_full += 1;
                return;
            }
        }
        self.table.insert(key, tat);
    }

    /// Forgets every key whose bucket is full again (nothing to remember); returns how many.
    pub fn sweep(&mut self, now_ns: u64) -> usize {
        let before = self.table.len();
        self.table.retain(|_, tat| *tat > now_ns);
        before - self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = NS_PER_SEC;

    fn keys(ip: u128) -> Keys<'static> {
        Keys { ip: Some(ip), identity: None, session: Some(7) }
    }

    #[test]
    fn rules_parse() {
        let r = parse_rule("ip:100/s:200").unwrap();
        assert_eq!((r.scope, r.method, r.name, r.count, r.period_ns, r.burst), (Scope::Ip, None, None, 100, S, 200));
        let r = parse_rule("session:tools/call:10/s:20").unwrap();
        assert_eq!((r.scope, r.method.as_deref(), r.burst), (Scope::Session, Some("tools/call"), 20));
        let r = parse_rule("ip:tools/call=slow:1/s:1").unwrap();
        assert_eq!((r.method.as_deref(), r.name.as_deref()), (Some("tools/call"), Some("slow")));
        let r = parse_rule("identity:resources/read=file:///a:b:5/m").unwrap();
        assert_eq!((r.name.as_deref(), r.count, r.period_ns, r.burst), (Some("file:///a:b"), 5, 60 * S, 5));
        let r = parse_rule(" ip:3/h ").unwrap();
        assert_eq!((r.count, r.period_ns, r.burst, r.text.as_str()), (3, 3_600 * S, 3, "ip:3/h"));
        for bad in ["", "ip", "ip:", "host:1/s", "ip:0/s", "ip:1/s:0", "ip:1/d", "ip:x/s", "ip:=a:1/s", "ip:1"] {
            assert!(parse_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn split_across_cores() {
        let r = parse_rule("ip:10/s:5").unwrap();
        let c = CoreRule::split(&r, 2);
        assert_eq!((c.interval_ns, c.burst), (S / 5, 3), "rate/2, burst rounded up");
        let s = CoreRule::split(&parse_rule("session:10/s:5").unwrap(), 4);
        assert_eq!((s.interval_ns, s.burst), (S / 10, 5), "session rules are whole");
    }

    #[test]
    fn burst_then_rate() {
        let mut l = Limiter::new(&[parse_rule("ip:10/s:3").unwrap()], 1, 100);
        let t0 = 1_000 * S;
        for _ in 0..3 {
            l.check(t0, &keys(1), "ping", None).unwrap();
        }
        let e = l.check(t0, &keys(1), "ping", None).unwrap_err();
        assert_eq!((e.scope, e.retry_after_ns, e.retry_after_ms(), e.retry_after_s()), (Scope::Ip, S / 10, 100, 1));
        l.check(t0, &keys(2), "ping", None).unwrap();
        l.check(t0 + S / 10, &keys(1), "ping", None).unwrap();
        assert!(l.check(t0 + S / 10, &keys(1), "ping", None).is_err());
        assert_eq!(l.limited, [2, 0, 0]);
    }

    #[test]
    fn method_and_name_rules_only_count_theirs() {
        let rules = [parse_rule("ip:tools/call:1/h:2").unwrap(), parse_rule("ip:tools/call=slow:1/h:1").unwrap()];
        let mut l = Limiter::new(&rules, 1, 100);
        for _ in 0..10 {
            l.check(S, &keys(1), "ping", None).unwrap();
        }
        l.check(S, &keys(1), "tools/call", Some("slow")).unwrap();
        assert_eq!(l.check(S, &keys(1), "tools/call", Some("slow")).unwrap_err().rule, 1);
        l.check(S, &keys(1), "tools/call", Some("fast")).unwrap();
        assert_eq!(l.check(S, &keys(1), "tools/call", Some("fast")).unwrap_err().rule, 0);
    }

    #[test]
    fn a_refused_request_counts_against_no_rule() {
        let rules = [parse_rule("ip:1/h:5").unwrap(), parse_rule("session:1/h:1").unwrap()];
        let mut l = Limiter::new(&rules, 1, 100);
        l.check(S, &keys(1), "ping", None).unwrap();
        for _ in 0..10 {
            assert_eq!(l.check(S, &keys(1), "ping", None).unwrap_err().scope, Scope::Session);
        }
        let other = Keys { session: Some(8), ..keys(1) };
        for _ in 0..4 {
            let k = Keys { session: Some(100 + l.keys() as u64), ..other };
            l.check(S, &k, "ping", None).unwrap();
        }
        assert_eq!(l.check(S, &Keys { session: Some(99), ..other }, "ping", None).unwrap_err().scope, Scope::Ip);
    }

    #[test]
    fn identity_rules_skip_anonymous_requests() {
        let mut l = Limiter::new(&[parse_rule("identity:1/h:1").unwrap()], 1, 100);
        for _ in 0..5 {
            l.check(S, &keys(1), "ping", None).unwrap();
        }
        let alice = Keys { identity: Some("alice"), ..keys(1) };
        l.check(S, &alice, "ping", None).unwrap();
        assert_eq!(l.check(S, &alice, "ping", None).unwrap_err().scope, Scope::Identity);
        l.check(S, &Keys { identity: Some("bob"), ..keys(1) }, "ping", None).unwrap();
    }

    #[test]
    fn the_table_is_bounded_and_swept() {
        let mut l = Limiter::new(&[parse_rule("ip:1/s:1").unwrap()], 1, 4);
        for ip in 0..10 {
            l.check(S, &keys(ip), "ping", None).unwrap();
        }
        assert_eq!((l.keys(), l.table_full), (4, 6));
        assert_eq!(l.sweep(3 * S), 4);
        l.check(3 * S, &keys(50), "ping", None).unwrap();
        assert_eq!(l.keys(), 1);
    }

    #[test]
    fn ipv6_is_masked_to_its_prefix() {
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: std::net::IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a, 64), ip_key(b, 64));
        assert_ne!(ip_key(a, 64), ip_key(c, 64));
        let v4: std::net::IpAddr = "1.2.3.4".parse().unwrap();
        assert_ne!(ip_key(v4, 64), ip_key(a, 64));
    }
}
