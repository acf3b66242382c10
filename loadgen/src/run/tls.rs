//! A TLS client stream on the ring: rustls (sans-I/O) between the drivers and a ring
//! [`Stream`]. Like a plain stream, it reads and writes through a shared reference, so one
//! connection's reader task and writer task can use it at once (one loop, so a `RefCell`).
//!
//! Batching survives encryption: a `write` of a whole batch of requests is encrypted at once
//! and goes to the ring as one write (rustls cuts it into records of up to 16 KiB; a batch
//! over `TLS_SEND_BUFFER_BYTES` takes more writes), and reads take up to
//! `TLS_READ_CHUNK_BYTES` of ciphertext at a time and decrypt all of it before handing the
//! plaintext on. Records go to the socket strictly in the order rustls made them: there is
//! one outgoing buffer, and whoever flushes sends it from the front.

use crate::limits::{TLS_READ_CHUNK_BYTES, TLS_SEND_BUFFER_BYTES};
use crate::tls::TlsClient;
use futures_lite::io::{AsyncRead, AsyncWrite};
use ringmcp_ring::Stream;
use rustls::ClientConnection;
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A connection inside TLS.
pub struct TlsStream {
    inner: Stream,
    state: RefCell<State>,
}

impl TlsStream {
    /// The socket under the TLS layer (for [`super::io::Io::peer_closed`]).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.inner)
    }
}

struct State {
    conn: ClientConnection,
    /// Ciphertext read from the socket; `cipher_in[in_start..in_end]` is not yet fed to rustls.
    cipher_in: Vec<u8>,
    in_start: usize,
    in_end: usize,
    /// The socket reached end of stream.
    eof: bool,
    /// Records made by rustls; `cipher_out[out_start..]` is not yet queued on the socket.
    cipher_out: Vec<u8>,
    out_start: usize,
    /// The writer task waits for the socket to take `cipher_out` (its waker is registered):
    /// the reader must not flush then, or it would take the writer's place as the waiter.
    writer_waiting: bool,
}

impl State {
    /// Moves every record rustls has ready into `cipher_out`.
    fn stage(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.cipher_out)?;
        }
        Ok(())
    }

    fn has_output(&self) -> bool {
        self.out_start < self.cipher_out.len()
    }

    /// Feeds buffered ciphertext to rustls until it is used up or enough plaintext for
    /// `want` bytes is decrypted.
    fn feed(&mut self, want: usize) -> io::Result<()> {
        while self.in_start < self.in_end {
            let mut unread = &self.cipher_in[self.in_start..self.in_end];
            let n = self.conn.read_tls(&mut unread)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "TLS: rustls took no bytes"));
            }
            self.in_start += n;
            let state = self.process()?;
            if state.plaintext_bytes_to_read() >= want.min(TLS_READ_CHUNK_BYTES) {
                break;
            }
        }
        Ok(())
    }

    /// Processes what was fed; on a TLS error, stages the alert for sending and fails.
    fn process(&mut self) -> io::Result<rustls::IoState> {
        match self.conn.process_new_packets() {
            Ok(state) => Ok(state),
            Err(e) => {
                let _ = self.stage();
                Err(io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}")))
            }
        }
    }
}

impl TlsStream {
    /// Runs the TLS handshake over `inner` and returns the stream once it is done.
    ///
    /// # Errors
    /// I/O errors, the server closing, or a TLS failure (certificate, protocol, alert).
    pub async fn connect(inner: Stream, client: &TlsClient) -> io::Result<TlsStream> {
        let mut conn = ClientConnection::new(client.config.clone(), client.server_name.clone())
            .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
        conn.set_buffer_limit(Some(TLS_SEND_BUFFER_BYTES));
        let state = State {
            conn,
            cipher_in: vec![0; TLS_READ_CHUNK_BYTES],
            in_start: 0,
            in_end: 0,
            eof: false,
            cipher_out: Vec::new(),
            out_start: 0,
            writer_waiting: false,
        };
        let stream = TlsStream { inner, state: RefCell::new(state) };
        std::future::poll_fn(|cx| stream.poll_handshake(cx)).await?;
        Ok(stream)
    }

    fn poll_handshake(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.state.borrow_mut();
        loop {
            state.stage()?;
            if self.flush_out(&mut state, cx)?.is_pending() {
                return Poll::Pending;
            }
            if !state.conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if state.in_start < state.in_end {
                state.feed(usize::MAX)?;
                continue;
            }
            let state = &mut *state;
            match Pin::new(&mut &self.inner).poll_read(cx, &mut state.cipher_in) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection during the TLS handshake",
                    )))
                }
                Poll::Ready(Ok(n)) => (state.in_start, state.in_end) = (0, n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Queues `cipher_out` on the socket from the front; `Pending` (with `cx` registered) if
    /// the socket's send queue is full.
    fn flush_out(&self, state: &mut State, cx: &mut Context<'_>) -> io::Result<Poll<()>> {
        while state.has_output() {
            match Pin::new(&mut &self.inner).poll_write(cx, &state.cipher_out[state.out_start..]) {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => state.out_start += n,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(Poll::Pending),
            }
        }
        state.cipher_out.clear();
        state.out_start = 0;
        Ok(Poll::Ready(()))
    }

    /// The writer's flush: remembers that it waits, so the reader leaves the socket to it.
    fn writer_flush(&self, state: &mut State, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.flush_out(state, cx) {
            Ok(Poll::Pending) => {
                state.writer_waiting = true;
                Poll::Pending
            }
            Ok(Poll::Ready(())) => {
                state.writer_waiting = false;
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncRead for &TlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this: &TlsStream = self.get_mut();
        let mut guard = this.state.borrow_mut();
        let state = &mut *guard;
        loop {
            match state.conn.reader().read(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The server closed the TCP connection without close_notify: an end of stream
                // like any other for loadgen.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(0)),
                Err(e) => return Poll::Ready(Err(e)),
            }
            if state.in_start < state.in_end {
                state.feed(buf.len())?;
                // Post-handshake records to send (a KeyUpdate answer, an alert): send them
                // now unless the writer is waiting on the socket (it sends them then).
                state.stage()?;
                if state.has_output() && !state.writer_waiting {
                    let _ = this.flush_out(state, cx)?;
                }
                continue;
            }
            if state.eof {
                return Poll::Ready(Ok(0));
            }
            match Pin::new(&mut &this.inner).poll_read(cx, &mut state.cipher_in) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    state.eof = true;
                    // Tell rustls: its reader then says whether close_notify came first.
                    state.conn.read_tls(&mut &[][..])?;
                    state.process()?;
                }
                Poll::Ready(Ok(n)) => (state.in_start, state.in_end) = (0, n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for &TlsStream {
    /// Encrypts all of `data` rustls takes (up to `TLS_SEND_BUFFER_BYTES`) and queues the
    /// records on the socket in one write. Returns once rustls has the plaintext; records the
    /// socket could not take yet stay queued here until the next write or flush.
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this: &TlsStream = self.get_mut();
        let mut guard = this.state.borrow_mut();
        let state = &mut *guard;
        if state.has_output() && this.writer_flush(state, cx)?.is_pending() {
            return Poll::Pending;
        }
        let n = state.conn.writer().write(data)?;
        state.stage()?;
        let _ = this.writer_flush(state, cx)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this: &TlsStream = self.get_mut();
        let mut state = this.state.borrow_mut();
        state.stage()?;
        this.writer_flush(&mut state, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this: &TlsStream = self.get_mut();
        {
            let mut state = this.state.borrow_mut();
            state.conn.send_close_notify();
            state.stage()?;
            if this.writer_flush(&mut state, cx)?.is_pending() {
                return Poll::Pending;
            }
        }
        Pin::new(&mut &this.inner).poll_close(cx)
    }
}
