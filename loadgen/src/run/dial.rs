//! Opening a connection for a worker: TCP, with TLS on top when asked, within the timeout.

use crate::run::io::{self, Io};
use crate::run::tls::TlsStream;
use crate::run::Plan;
use std::future::Future;
use std::time::Duration;

/// Opens one TCP connection to the plan's address, with TLS when the plan has it; returns it
/// and the TLS handshake's time in µs.
///
/// # Errors
/// The connect or the TLS handshake failed, described.
pub(crate) async fn dial(plan: &Plan) -> Result<(Io, Option<u64>), String> {
    let addr = plan.addr.ok_or("no address")?;
    let tcp = io::connect_tcp(addr).await.map_err(|e| format!("connecting to {addr}: {e}"))?;
    match &plan.tls {
        None => Ok((Io::Plain(tcp), None)),
        Some(client) => {
            let started = std::time::Instant::now();
            let tls = TlsStream::connect(tcp, client).await.map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
            Ok((Io::Tls(Box::new(tls)), Some(started.elapsed().as_micros() as u64)))
        }
    }
}

pub(crate) async fn with_timeout<T>(
    timeout: Duration,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    ringmcp_ring::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(format!("no handshake within {} ms", timeout.as_millis())))
}
