//! Each core's listening socket: built with socket2 (SO_REUSEPORT, the configured backlog, not
//! a hard-coded 1024 that overflows at thousands of simultaneous connects) and handed to the
//! core's ring, which accepts on it (multishot where the kernel has it).

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

/// One listening socket per core on `addr`. Port 0 picks a free port for the first socket and
/// the others join that port; the address actually bound is returned.
pub fn bind_all(addr: SocketAddr, backlog: u32, cores: usize) -> std::io::Result<(SocketAddr, Vec<OwnedFd>)> {
    let first = bind(addr, backlog)?;
    let bound = Socket::from(first.try_clone()?).local_addr()?.as_socket().unwrap_or(addr);
    let mut all = vec![first];
    for _ in 1..cores {
        all.push(bind(bound, backlog)?);
    }
    Ok((bound, all))
}

/// Creates one bound, listening SO_REUSEPORT socket on `addr`.
///
/// Errors: the address is in use by a process without SO_REUSEPORT, not local, or not
/// permitted; the message names the address.
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<OwnedFd> {
    let domain = if addr.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    let annotate = |e: std::io::Error| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"));
    socket.bind(&SockAddr::from(addr)).map_err(annotate)?;
    socket.listen(backlog.min(i32::MAX as u32) as i32).map_err(annotate)?;
    Ok(OwnedFd::from(socket))
}
