//! Each core's listening socket: built with socket2 (SO_REUSEPORT, the configured backlog)
//! and handed to glommio, because glommio's own `TcpListener::bind` hard-codes a backlog of
//! 1024, which overflows at thousands of simultaneous connects.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};

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

/// Gives a listening socket to the calling core's glommio reactor.
pub fn into_glommio(fd: OwnedFd) -> glommio::net::TcpListener {
    let raw = fd.into_raw_fd();
    // SAFETY: `raw` comes from `into_raw_fd` of an OwnedFd we own, so it is an open, listening
    // TCP socket that nothing else will close; the TcpListener takes over its ownership.
    unsafe { glommio::net::TcpListener::from_raw_fd(raw) }
}
