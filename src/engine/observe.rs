//! /health and /metrics: every core's counters, gathered by message passing at scrape time
//! (the hot path only touches its own core's plain counters).

use super::core::CoreCtx;
use super::mailbox;
use super::mesh::CoreMsg;
use super::metrics::{self, CoreSnapshot};
use std::rc::Rc;
use std::time::Duration;

/// How long a scrape waits for the other cores, in milliseconds; a core that does not answer
/// in time is left out (and logged).
const SCRAPE_TIMEOUT_MS: u64 = 1_000;

/// Snapshots of every core, this one first.
async fn gather(core: &Rc<CoreCtx>) -> Vec<CoreSnapshot> {
    let mut snaps = vec![core.snapshot()];
    let others = core.mesh.cores();
    if others <= 1 {
        return snaps;
    }
    let (tx, rx) = mailbox::bounded(others);
    let mut asked = 0;
    for c in (0..others).filter(|&c| c != core.core) {
        asked += usize::from(core.mesh.send(c, CoreMsg::Scrape(tx.clone())));
    }
    drop(tx);
    let collect = async {
        for _ in 0..asked {
            match rx.recv().await {
                Some(s) => snaps.push(s),
                None => break,
            }
        }
    };
    let timeout = ringmcp_ring::sleep(Duration::from_millis(SCRAPE_TIMEOUT_MS));
    futures_lite::future::or(collect, timeout).await;
    snaps.sort_by_key(|s| s.core);
    if snaps.len() < others {
        log::warn!("core {}: {} of {others} cores answered the scrape in time", core.core, snaps.len());
    }
    snaps
}

/// The /health JSON.
pub(crate) async fn health(core: &Rc<CoreCtx>) -> Vec<u8> {
    let snaps = gather(core).await;
    let connections = core.connections_total();
    let m = &core.memory;
    let memory = match m.state() {
        crate::memory::State::Ok => None,
        state => Some(format!(
            "memory: RSS {} bytes is over the {} mark ({} bytes of the {}-byte limit)",
            m.rss(),
            state.as_str(),
            if state == crate::memory::State::Warn { m.warn_bytes } else { m.reject_bytes },
            m.limit_bytes
        )),
    };
    metrics::render_health_with(&snaps, connections, metrics::rss_bytes(), memory).into_bytes()
}

/// The /metrics Prometheus text.
pub(crate) async fn metrics(core: &Rc<CoreCtx>) -> Vec<u8> {
    let mut text = metrics::render_prometheus(&gather(core).await);
    core.memory.render_prometheus(&mut text);
    super::access_log::render_prometheus(&mut text);
    if let Some(auth) = &core.auth {
        auth_metrics(auth, &mut text);
    }
    text.into_bytes()
}

/// The authorization counters (all cores together: they are shared atomics).
fn auth_metrics(auth: &crate::auth::Auth, out: &mut String) {
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let c = &auth.counters;
    let _ = writeln!(out, "# HELP ringmcp_auth_total Authorization outcomes of /mcp, /mcp/ws and NDJSON: ok (a credential verified), missing (401 without token), invalid (401 invalid_token), forbidden (403 insufficient_scope).");
    let _ = writeln!(out, "# TYPE ringmcp_auth_total counter");
    for (outcome, n) in [("ok", &c.ok), ("missing", &c.missing), ("invalid", &c.invalid), ("forbidden", &c.forbidden)] {
        let _ = writeln!(out, "ringmcp_auth_total{{outcome=\"{outcome}\"}} {}", n.load(Relaxed));
    }
    if let Some(store) = auth.key_store() {
        let s = &store.counters;
        let _ = writeln!(out, "# HELP ringmcp_auth_jwks_fetches_total JWKS fetches (start-up, scheduled, unknown kid), by result; denied: unknown-kid refreshes refused by auth_jwks_min_refresh_interval_ms.");
        let _ = writeln!(out, "# TYPE ringmcp_auth_jwks_fetches_total counter");
        let ok = s.fetches.load(Relaxed).saturating_sub(s.fetch_errors.load(Relaxed));
        for (result, n) in
            [("ok", ok), ("error", s.fetch_errors.load(Relaxed)), ("denied", s.refreshes_denied.load(Relaxed))]
        {
            let _ = writeln!(out, "ringmcp_auth_jwks_fetches_total{{result=\"{result}\"}} {n}");
        }
    }
}
