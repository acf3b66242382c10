//! One io_uring and the sockets registered with it.
//!
//! Every operation carries `user_data` = op (8 bits) | slot generation (24 bits) | slot
//! (32 bits). A slot is freed only once no operation of it is in flight, so a completion can
//! never reach the wrong socket; the generation makes that checkable. Completions are copied
//! out of the queue first and handled after; wakers found while handling them are returned to
//! the caller, which wakes them once this reactor is no longer borrowed.

use crate::bufring::{self, BufRing};
use crate::limits::{
    CQ_ENTRIES_PER_SQ_ENTRY, FILE_READ_BYTES, RECV_HELD_MAX_BYTES, RECV_REARM_FREE_PERCENT, SEND_BUFFERS_KEPT,
    SEND_BUFFER_KEPT_MAX_BYTES, SEND_QUEUED_MAX_BYTES,
};
use crate::{IoPath, IoPathChoice, Stats};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Op {
    Recv = 1,
    Poll = 2,
    Send = 3,
    Accept = 4,
    Read = 5,
    Write = 6,
    Cancel = 7,
    Connect = 8,
    Wake = 9,
}

impl Op {
    fn from_u8(v: u8) -> Option<Op> {
        Some(match v {
            1 => Op::Recv,
            2 => Op::Poll,
            3 => Op::Send,
            4 => Op::Accept,
            5 => Op::Read,
            6 => Op::Write,
            7 => Op::Cancel,
            8 => Op::Connect,
            9 => Op::Wake,
            _ => return None,
        })
    }
}

const GEN_MASK: u32 = 0xFF_FFFF;

fn user_data(op: Op, slot: u32, gen: u32) -> u64 {
    (op as u64) << 56 | u64::from(gen & GEN_MASK) << 32 | u64::from(slot)
}

/// (op, slot, generation) of a `user_data`.
fn split(ud: u64) -> (Option<Op>, u32, u32) {
    (Op::from_u8((ud >> 56) as u8), ud as u32, ((ud >> 32) as u32) & GEN_MASK)
}

/// What a registered descriptor is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// A listening socket: accept.
    Listener,
    /// A connected socket: recv/send.
    Socket,
    /// A pipe, terminal or file (stdin/stdout): read/write.
    File,
}

enum Chunk {
    /// Bytes `start..end` of provided buffer `bid`.
    Buf { bid: u16, start: u32, end: u32 },
    /// Bytes `start..` of a buffer this loop owns (file reads).
    Owned { buf: Vec<u8>, start: usize },
}

struct Slot {
    gen: u32,
    fd: RawFd,
    kind: Kind,
    /// The owner still holds it; when false the slot is closing.
    live: bool,
    /// Operations in flight.
    ops: u32,
    /// The armed read-side operation (recv, poll, read, accept), if any.
    read_op: Option<u64>,
    /// A cancel for `read_op` is in flight (a pause or a close).
    cancelling: bool,
    /// A multishot operation of this slot ended at least once (the next arm is a re-arm).
    ended: bool,
    rx: VecDeque<Chunk>,
    rx_bytes: usize,
    rx_eof: bool,
    rx_err: Option<i32>,
    /// The fallback path's readiness: try `recv` before arming a poll.
    readable: bool,
    /// Waiting for the buffer ring to fill up again before re-arming.
    starved: bool,
    /// Listed in the reactor's `holding` (it has received bytes in provided buffers).
    holding: bool,
    /// The buffer a file read is filling.
    file_buf: Vec<u8>,
    accepted: VecDeque<RawFd>,
    read_waker: Option<Waker>,
    /// Output not yet handed to the kernel.
    tx: Vec<u8>,
    /// Output of the send in flight (stable while the kernel reads it), sent up to `tx_off`.
    tx_flight: Vec<u8>,
    tx_off: usize,
    send_op: Option<u64>,
    /// Queued in the reactor's list of sockets to send for.
    send_queued: bool,
    tx_err: Option<i32>,
    write_waker: Option<Waker>,
    /// The address a connect in flight reads.
    connect_addr: Option<Box<socket2::SockAddr>>,
    connect_res: Option<i32>,
}

impl Slot {
    fn new(gen: u32, fd: RawFd, kind: Kind) -> Slot {
        Slot {
            gen,
            fd,
            kind,
            live: true,
            ops: 0,
            read_op: None,
            cancelling: false,
            ended: false,
            rx: VecDeque::new(),
            rx_bytes: 0,
            rx_eof: false,
            rx_err: None,
            readable: true,
            starved: false,
            holding: false,
            file_buf: Vec::new(),
            accepted: VecDeque::new(),
            read_waker: None,
            tx: Vec::new(),
            tx_flight: Vec::new(),
            tx_off: 0,
            send_op: None,
            send_queued: false,
            tx_err: None,
            write_waker: None,
            connect_addr: None,
            connect_res: None,
        }
    }
}

/// How a ring is set up.
pub(crate) struct RingConfig {
    pub path: IoPathChoice,
    pub entries: u32,
    pub recv_buffers: u32,
    pub recv_buffer_bytes: u32,
}

pub(crate) struct Reactor {
    // Field order is drop order: the ring (and with it every registration) goes before the
    // memory its operations point into.
    ring: IoUring,
    bufs: Option<BufRing>,
    pub path: IoPath,
    slots: Vec<Option<Slot>>,
    /// Generations of freed slots, by index, so a reused slot gets a new one.
    gens: Vec<u32>,
    free: Vec<u32>,
    send_list: Vec<u32>,
    starved_list: Vec<u32>,
    /// Slots with received bytes still in provided buffers.
    holding: Vec<u32>,
    spare_bufs: Vec<Vec<u8>>,
    cqes: Vec<(u64, i32, u32)>,
    wake_buf: Box<u64>,
    wake_fd: RawFd,
    stats: Stats,
    sockets: u64,
}

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

impl Reactor {
    /// Sets up the ring (and the buffer ring on the multishot path); `wake_fd` is the eventfd
    /// other threads write to wake this loop.
    pub fn new(config: &RingConfig, wake_fd: RawFd) -> io::Result<Reactor> {
        let cq = config.entries.saturating_mul(CQ_ENTRIES_PER_SQ_ENTRY);
        let modern = if config.path == IoPathChoice::Fallback {
            None
        } else {
            let built = IoUring::builder()
                .setup_single_issuer()
                .setup_defer_taskrun()
                .setup_coop_taskrun()
                .setup_cqsize(cq)
                .build(config.entries);
            match built {
                Ok(ring) => match BufRing::new(&ring, config.recv_buffers, config.recv_buffer_bytes) {
                    Ok(bufs) => Some((ring, bufs)),
                    Err(e) if config.path == IoPathChoice::Multishot => {
                        return Err(io::Error::other(format!("io_path multishot: no provided buffer ring: {e}")))
                    }
                    Err(e) => {
                        log::info!("io_uring: no provided buffer ring ({e}); using the fallback path");
                        None
                    }
                },
                Err(e) if config.path == IoPathChoice::Multishot => {
                    return Err(io::Error::other(format!(
                        "io_path multishot: the kernel has no SINGLE_ISSUER + DEFER_TASKRUN ring: {e}"
                    )))
                }
                Err(e) => {
                    log::info!("io_uring: no DEFER_TASKRUN ring ({e}); using the fallback path");
                    None
                }
            }
        };
        let (ring, bufs, path) = match modern {
            Some((ring, bufs)) => (ring, Some(bufs), IoPath::Multishot),
            None => (IoUring::builder().setup_cqsize(cq).build(config.entries)?, None, IoPath::Fallback),
        };
        if !ring.params().is_feature_ext_arg() {
            return Err(io::Error::other("io_uring: the kernel lacks EXT_ARG waits (Linux 5.11 or newer is needed)"));
        }
        let mut reactor = Reactor {
            ring,
            bufs,
            path,
            slots: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            send_list: Vec::new(),
            starved_list: Vec::new(),
            holding: Vec::new(),
            spare_bufs: Vec::new(),
            cqes: Vec::with_capacity(cq as usize),
            wake_buf: Box::new(0),
            wake_fd,
            stats: Stats::default(),
            sockets: 0,
        };
        reactor.arm_wake();
        Ok(reactor)
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.buffers_total = self.bufs.as_ref().map_or(0, |b| u64::from(b.count()));
        s.buffers_out = self.bufs.as_ref().map_or(0, |b| u64::from(b.out()));
        s.sockets = self.sockets;
        s
    }

    /// Registers `fd` (which the reactor now owns and closes); returns its slot.
    pub fn register(&mut self, fd: RawFd, kind: Kind) -> u32 {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.gens.push(0);
                (self.slots.len() - 1) as u32
            }
        };
        let gen = self.gens[index as usize];
        debug_assert!(self.slots[index as usize].is_none(), "slot {index} reused while in use");
        self.slots[index as usize] = Some(Slot::new(gen, fd, kind));
        self.sockets += 1;
        index
    }

    fn slot(&mut self, index: u32) -> &mut Slot {
        self.slots[index as usize].as_mut().expect("a registered slot")
    }

    /// The owner is done with `index`: cancel what is armed, close once nothing is in flight.
    pub fn release(&mut self, index: u32) {
        // At shutdown the reactor may have closed the slot before its owner let go.
        let Some(slot) = self.slots.get_mut(index as usize).and_then(|s| s.as_mut()).filter(|s| s.live) else {
            return;
        };
        slot.live = false;
        slot.read_waker = None;
        slot.write_waker = None;
        let targets = [slot.read_op.filter(|_| !slot.cancelling), slot.send_op];
        slot.cancelling = slot.cancelling || slot.read_op.is_some();
        for target in targets.into_iter().flatten() {
            self.push_cancel(index, target);
        }
        self.finish_if_idle(index);
    }

    fn push_cancel(&mut self, index: u32, target: u64) {
        let gen = self.slot(index).gen;
        let sqe = opcode::AsyncCancel::new(target).build().user_data(user_data(Op::Cancel, index, gen));
        self.slot(index).ops += 1;
        self.push(sqe);
    }

    /// Frees a released slot with nothing in flight: buffers back, fd closed, new generation.
    fn finish_if_idle(&mut self, index: u32) {
        let slot = self.slot(index);
        if slot.live || slot.ops > 0 {
            return;
        }
        let mut slot = self.slots[index as usize].take().expect("a registered slot");
        for chunk in slot.rx.drain(..) {
            if let Chunk::Buf { bid, .. } = chunk {
                self.bufs.as_mut().expect("buffers on the multishot path").give_back(bid);
            }
        }
        for fd in slot.accepted.drain(..) {
            // SAFETY: an accepted fd nobody took; we own it and close it once.
            unsafe { libc::close(fd) };
        }
        // SAFETY: the slot owned its fd, no operation of it is in flight, and it is closed once.
        unsafe { libc::close(slot.fd) };
        self.keep_buf(std::mem::take(&mut slot.tx));
        self.keep_buf(std::mem::take(&mut slot.tx_flight));
        self.gens[index as usize] = slot.gen.wrapping_add(1) & GEN_MASK;
        self.free.push(index);
        self.sockets -= 1;
    }

    fn keep_buf(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() > 0
            && buf.capacity() <= SEND_BUFFER_KEPT_MAX_BYTES
            && self.spare_bufs.len() < SEND_BUFFERS_KEPT
        {
            buf.clear();
            self.spare_bufs.push(buf);
        }
    }

    fn push(&mut self, sqe: squeue::Entry) {
        self.stats.submitted += 1;
        loop {
            // SAFETY: every entry pushed points only at memory the reactor keeps alive until
            // its completion: slot buffers (not touched while an op is in flight), boxed
            // addresses, the buffer ring, or nothing.
            if unsafe { self.ring.submission().push(&sqe) }.is_ok() {
                return;
            }
            self.stats.sq_full += 1;
            if let Err(e) = self.ring.submit() {
                log::error!("io_uring: submit failed with the queue full: {e}");
            }
        }
    }

    // ---- reading ----

    /// Reads what is there into `buf` (as much as fits), or waits.
    pub fn poll_read(&mut self, index: u32, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let path = self.path;
        let slot = self.slot(index);
        if !slot.rx.is_empty() {
            return Poll::Ready(Ok(self.copy_out(index, buf)));
        }
        if let Some(e) = slot.rx_err {
            return Poll::Ready(Err(errno(e)));
        }
        if slot.rx_eof {
            return Poll::Ready(Ok(0));
        }
        match (slot.kind, path) {
            (Kind::Socket, IoPath::Fallback) => {
                if slot.readable {
                    // SAFETY: `buf` is a valid writable region of its length; fd is our socket.
                    let n = unsafe { libc::recv(slot.fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
                    if n >= 0 {
                        return Poll::Ready(Ok(n as usize));
                    }
                    let e = io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::EAGAIN) => slot.readable = false,
                        Some(libc::EINTR) => {
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        _ => return Poll::Ready(Err(e)),
                    }
                }
                if slot.read_op.is_none() {
                    self.arm_poll(index);
                }
            }
            (Kind::Socket, IoPath::Multishot) => {
                if slot.read_op.is_none() && !slot.starved {
                    self.arm_recv(index);
                }
            }
            (Kind::File, _) => {
                if slot.read_op.is_none() {
                    self.arm_file_read(index);
                }
            }
            (Kind::Listener, _) => return Poll::Ready(Err(io::Error::other("read from a listener"))),
        }
        set_waker(&mut self.slot(index).read_waker, cx);
        Poll::Pending
    }

    fn copy_out(&mut self, index: u32, buf: &mut [u8]) -> usize {
        let mut bufs = self.bufs.take();
        let slot = self.slots[index as usize].as_mut().expect("a registered slot");
        let mut n = 0;
        while n < buf.len() {
            let Some(chunk) = slot.rx.front_mut() else { break };
            let (taken, emptied) = match chunk {
                Chunk::Buf { bid, start, end } => {
                    let bytes = bufs.as_ref().expect("buffers").bytes(*bid, *start, *end);
                    let k = bytes.len().min(buf.len() - n);
                    buf[n..n + k].copy_from_slice(&bytes[..k]);
                    *start += k as u32;
                    (k, start == end)
                }
                Chunk::Owned { buf: owned, start } => {
                    let k = (owned.len() - *start).min(buf.len() - n);
                    buf[n..n + k].copy_from_slice(&owned[*start..*start + k]);
                    *start += k;
                    (k, *start == owned.len())
                }
            };
            n += taken;
            if emptied {
                match slot.rx.pop_front() {
                    Some(Chunk::Buf { bid, .. }) => bufs.as_mut().expect("buffers").give_back(bid),
                    Some(Chunk::Owned { buf, .. }) if slot.kind == Kind::File && slot.file_buf.capacity() == 0 => {
                        slot.file_buf = buf
                    }
                    Some(Chunk::Owned { .. }) | None => {}
                }
            }
        }
        slot.rx_bytes -= n;
        self.bufs = bufs;
        n
    }

    fn arm_recv(&mut self, index: u32) {
        let slot = self.slot(index);
        let ud = user_data(Op::Recv, index, slot.gen);
        let sqe = opcode::RecvMulti::new(types::Fd(slot.fd), bufring::GROUP).build().user_data(ud);
        if std::mem::replace(&mut slot.ended, false) {
            self.stats.recv_rearms += 1;
        }
        let slot = self.slot(index);
        slot.read_op = Some(ud);
        slot.ops += 1;
        self.push(sqe);
    }

    fn arm_poll(&mut self, index: u32) {
        let slot = self.slot(index);
        let ud = user_data(Op::Poll, index, slot.gen);
        let mask = (libc::POLLIN | libc::POLLRDHUP | libc::POLLERR | libc::POLLHUP) as u32;
        let sqe = opcode::PollAdd::new(types::Fd(slot.fd), mask).build().user_data(ud);
        slot.read_op = Some(ud);
        slot.ops += 1;
        self.push(sqe);
    }

    fn arm_file_read(&mut self, index: u32) {
        let slot = self.slot(index);
        if slot.file_buf.capacity() < FILE_READ_BYTES {
            slot.file_buf = Vec::with_capacity(FILE_READ_BYTES);
        }
        let ud = user_data(Op::Read, index, slot.gen);
        let ptr = slot.file_buf.as_mut_ptr();
        let len = slot.file_buf.capacity() as u32;
        let sqe = opcode::Read::new(types::Fd(slot.fd), ptr, len).offset(u64::MAX).build().user_data(ud);
        slot.read_op = Some(ud);
        slot.ops += 1;
        self.push(sqe);
    }

    /// Takes an accepted connection, or waits (arming the accept).
    pub fn poll_accept(&mut self, index: u32, cx: &mut Context<'_>) -> Poll<io::Result<RawFd>> {
        let path = self.path;
        let slot = self.slot(index);
        if let Some(fd) = slot.accepted.pop_front() {
            return Poll::Ready(Ok(fd));
        }
        if let Some(e) = slot.rx_err.take() {
            return Poll::Ready(Err(errno(e)));
        }
        if slot.read_op.is_none() {
            let ud = user_data(Op::Accept, index, slot.gen);
            let fd = types::Fd(slot.fd);
            let sqe = match path {
                IoPath::Multishot => opcode::AcceptMulti::new(fd).flags(libc::SOCK_CLOEXEC).build(),
                IoPath::Fallback => opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut())
                    .flags(libc::SOCK_CLOEXEC)
                    .build(),
            };
            if std::mem::replace(&mut slot.ended, false) && path == IoPath::Multishot {
                self.stats.recv_rearms += 1;
            }
            let slot = self.slot(index);
            slot.read_op = Some(ud);
            slot.ops += 1;
            self.push(sqe.user_data(ud));
        }
        set_waker(&mut self.slot(index).read_waker, cx);
        Poll::Pending
    }

    /// Starts connecting the socket in `index` to `addr`.
    pub fn start_connect(&mut self, index: u32, addr: socket2::SockAddr) {
        let slot = self.slot(index);
        let addr = Box::new(addr);
        let ud = user_data(Op::Connect, index, slot.gen);
        let sqe = opcode::Connect::new(types::Fd(slot.fd), addr.as_ptr().cast(), addr.len()).build().user_data(ud);
        slot.connect_addr = Some(addr);
        slot.ops += 1;
        self.push(sqe);
    }

    pub fn poll_connect(&mut self, index: u32, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let slot = self.slot(index);
        match slot.connect_res.take() {
            Some(r) if r < 0 => Poll::Ready(Err(errno(-r))),
            Some(_) => Poll::Ready(Ok(())),
            None => {
                set_waker(&mut slot.write_waker, cx);
                Poll::Pending
            }
        }
    }

    // ---- writing ----

    /// Queues `buf` for the next send of this loop, or waits while too much is queued.
    pub fn poll_write(&mut self, index: u32, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let slot = self.slot(index);
        if let Some(e) = slot.tx_err {
            return Poll::Ready(Err(errno(e)));
        }
        if slot.tx.len() >= SEND_QUEUED_MAX_BYTES && slot.send_op.is_some() {
            set_waker(&mut slot.write_waker, cx);
            return Poll::Pending;
        }
        if slot.tx.capacity() == 0 {
            let spare = self.spare_bufs.pop().unwrap_or_default();
            self.slot(index).tx = spare;
        }
        let slot = self.slot(index);
        slot.tx.extend_from_slice(buf);
        if !slot.send_queued && slot.send_op.is_none() {
            slot.send_queued = true;
            self.send_list.push(index);
        }
        Poll::Ready(Ok(buf.len()))
    }

    /// Ready once everything written so far has been handed to the kernel and sent.
    pub fn poll_drain(&mut self, index: u32, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let slot = self.slot(index);
        if let Some(e) = slot.tx_err {
            return Poll::Ready(Err(errno(e)));
        }
        // Drained means every byte sent: nothing queued, no send in flight, and no remainder
        // of a short send waiting for the next one.
        if slot.tx.is_empty() && slot.send_op.is_none() && slot.tx_off == slot.tx_flight.len() {
            return Poll::Ready(Ok(()));
        }
        set_waker(&mut slot.write_waker, cx);
        Poll::Pending
    }

    /// One send for every socket with output and none in flight.
    fn flush_sends(&mut self) {
        let list = std::mem::take(&mut self.send_list);
        for &index in &list {
            let Some(slot) = self.slots[index as usize].as_mut() else { continue };
            slot.send_queued = false;
            if slot.send_op.is_some() || slot.tx_err.is_some() {
                continue;
            }
            if slot.tx_off == slot.tx_flight.len() {
                if slot.tx.is_empty() {
                    continue;
                }
                slot.tx_flight.clear();
                std::mem::swap(&mut slot.tx, &mut slot.tx_flight);
                slot.tx_off = 0;
            }
            let ptr = slot.tx_flight[slot.tx_off..].as_ptr();
            let len = (slot.tx_flight.len() - slot.tx_off) as u32;
            let sqe = match slot.kind {
                Kind::File => {
                    let ud = user_data(Op::Write, index, slot.gen);
                    opcode::Write::new(types::Fd(slot.fd), ptr, len).offset(u64::MAX).build().user_data(ud)
                }
                _ => {
                    let ud = user_data(Op::Send, index, slot.gen);
                    opcode::Send::new(types::Fd(slot.fd), ptr, len).flags(libc::MSG_NOSIGNAL).build().user_data(ud)
                }
            };
            slot.send_op = Some(sqe.get_user_data());
            slot.ops += 1;
            self.stats.sends += 1;
            self.push(sqe);
        }
        let mut list = list;
        list.clear();
        if self.send_list.is_empty() {
            self.send_list = list;
        }
    }

    /// Gives back the provided buffers whose bytes their owners did not read in the turn they
    /// came (a connection that is not reading: backpressure, a handshake's leftover), copying
    /// the bytes into memory of the connection's own. Owners that read at once (nearly all)
    /// cost nothing here; without it, a few connections that stop reading would hold the whole
    /// ring and starve every other connection of the core.
    fn unpin_buffers(&mut self) {
        let Some(bufs) = self.bufs.as_mut() else { return };
        for index in self.holding.drain(..) {
            let Some(slot) = self.slots[index as usize].as_mut() else { continue };
            slot.holding = false;
            for chunk in slot.rx.iter_mut() {
                if let Chunk::Buf { bid, start, end } = *chunk {
                    let buf = bufs.bytes(bid, start, end).to_vec();
                    bufs.give_back(bid);
                    *chunk = Chunk::Owned { buf, start: 0 };
                }
            }
        }
    }

    /// Arms again the receives that ran out of buffers, oldest first, once a share of the
    /// ring is free, and at most one per free buffer: re-arming them all at once would only
    /// have most of them end with ENOBUFS again (measured: 14 re-arms per request with 64
    /// sockets on 4 buffers).
    fn rearm_starved(&mut self) {
        if self.starved_list.is_empty() {
            return;
        }
        let Some(bufs) = self.bufs.as_ref() else { return };
        if bufs.free_percent() < RECV_REARM_FREE_PERCENT {
            return;
        }
        let mut budget = (bufs.count() - bufs.out()) as usize;
        let mut list = std::mem::take(&mut self.starved_list);
        let mut taken = 0;
        for &index in &list {
            if budget == 0 {
                break;
            }
            taken += 1;
            let Some(slot) = self.slots[index as usize].as_mut() else { continue };
            slot.starved = false;
            if slot.live && slot.read_op.is_none() && slot.rx_err.is_none() && !slot.rx_eof {
                budget -= 1;
                self.arm_recv(index);
            }
        }
        list.drain(..taken);
        debug_assert!(self.starved_list.is_empty(), "arming a receive starves nothing");
        self.starved_list = list;
    }

    fn arm_wake(&mut self) {
        let ptr: *mut u64 = &mut *self.wake_buf;
        let sqe =
            opcode::Read::new(types::Fd(self.wake_fd), ptr.cast(), 8).build().user_data(user_data(Op::Wake, 0, 0));
        self.push(sqe);
    }

    // ---- the wait ----

    /// Submits everything queued and waits for at least one completion or `timeout`
    /// (`Some(ZERO)`: do not wait). Handles the completions; returns whether the wake eventfd
    /// fired. Wakers to call are appended to `wake`.
    pub fn submit_and_wait(&mut self, timeout: Option<Duration>, wake: &mut Vec<Waker>) -> io::Result<(bool, usize)> {
        self.unpin_buffers();
        self.rearm_starved();
        self.flush_sends();
        self.stats.enters += 1;
        let result = match timeout {
            None => self.ring.submit_and_wait(1),
            Some(t) => {
                let ts = types::Timespec::new().sec(t.as_secs()).nsec(t.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        match result {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)) => {}
            Err(e) => return Err(e),
        }
        Ok(self.reap(wake))
    }

    fn reap(&mut self, wake: &mut Vec<Waker>) -> (bool, usize) {
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.extend(self.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
        let reaped = cqes.len();
        self.stats.completions += reaped as u64;
        let mut woke = false;
        for &(ud, res, flags) in &cqes {
            woke |= self.complete(ud, res, flags, wake);
        }
        cqes.clear();
        self.cqes = cqes;
        (woke, reaped)
    }

    fn complete(&mut self, ud: u64, res: i32, flags: u32, wake: &mut Vec<Waker>) -> bool {
        let (op, index, gen) = split(ud);
        let Some(op) = op else {
            log::error!("io_uring: completion with unknown user_data {ud:#x}");
            return false;
        };
        if op == Op::Wake {
            if res < 0 && res != -libc::EINTR {
                log::error!("io_uring: reading the wake eventfd failed: {}", errno(-res));
            }
            self.arm_wake();
            return true;
        }
        let more = cqueue::more(flags);
        let Some(slot) = self.slots.get_mut(index as usize).and_then(|s| s.as_mut()) else {
            log::error!("io_uring: {op:?} completion for free slot {index}");
            return false;
        };
        assert_eq!(slot.gen, gen, "stale {op:?} completion for slot {index} ud {ud:#x} kind {:?}", slot.kind);
        if !more {
            debug_assert!(slot.ops > 0, "completion with no op in flight");
            slot.ops -= 1;
        }
        match op {
            Op::Recv => self.on_recv(index, res, flags, more),
            Op::Poll => {
                let slot = self.slot(index);
                slot.read_op = None;
                slot.cancelling = false;
                if res != -libc::ECANCELED {
                    slot.readable = true;
                }
            }
            Op::Read => self.on_file_read(index, res),
            Op::Accept => {
                let slot = self.slot(index);
                if res >= 0 {
                    if slot.live {
                        slot.accepted.push_back(res);
                    } else {
                        // SAFETY: a connection accepted for a listener being closed: ours to close.
                        unsafe { libc::close(res) };
                    }
                } else if res != -libc::ECANCELED {
                    slot.rx_err = Some(-res);
                }
                if !more {
                    slot.read_op = None;
                    slot.cancelling = false;
                    slot.ended = true;
                }
            }
            Op::Send | Op::Write => self.on_send(index, res),
            Op::Connect => {
                let slot = self.slot(index);
                slot.connect_addr = None;
                slot.connect_res = Some(res);
                if let Some(w) = slot.write_waker.take() {
                    wake.push(w);
                }
            }
            Op::Cancel | Op::Wake => {}
        }
        let slot = self.slot(index);
        if slot.live {
            if let Some(w) = slot.read_waker.take() {
                wake.push(w);
            }
            if op == Op::Send || op == Op::Write {
                if let Some(w) = slot.write_waker.take() {
                    wake.push(w);
                }
            }
        } else {
            self.finish_if_idle(index);
        }
        false
    }

    fn on_recv(&mut self, index: u32, res: i32, flags: u32, more: bool) {
        let bid = cqueue::buffer_select(flags);
        if let Some(bid) = bid {
            self.bufs.as_mut().expect("buffers on the multishot path").taken(bid);
        }
        let slot = self.slots[index as usize].as_mut().expect("a registered slot");
        match (res, bid) {
            (n, Some(bid)) if n > 0 => {
                if slot.live {
                    slot.rx.push_back(Chunk::Buf { bid, start: 0, end: n as u32 });
                    slot.rx_bytes += n as usize;
                    if !std::mem::replace(&mut slot.holding, true) {
                        self.holding.push(index);
                    }
                } else {
                    self.bufs.as_mut().expect("buffers").give_back(bid);
                }
            }
            (n, bid) => {
                if let Some(bid) = bid {
                    self.bufs.as_mut().expect("buffers").give_back(bid);
                }
                let slot = self.slots[index as usize].as_mut().expect("a registered slot");
                match n {
                    0 => slot.rx_eof = true,
                    e if e == -libc::ENOBUFS => {
                        self.stats.recv_enobufs += 1;
                        if !slot.starved && slot.live {
                            slot.starved = true;
                            self.starved_list.push(index);
                        }
                    }
                    e if e == -libc::ECANCELED => {}
                    e if e < 0 => slot.rx_err = Some(-e),
                    _ => {}
                }
            }
        }
        let slot = self.slots[index as usize].as_mut().expect("a registered slot");
        if !more {
            slot.read_op = None;
            slot.cancelling = false;
            slot.ended = true;
        } else if slot.rx_bytes > RECV_HELD_MAX_BYTES && !slot.cancelling && slot.live {
            // The owner is not reading (backpressure): stop receiving until it does.
            slot.cancelling = true;
            let target = slot.read_op.expect("an armed recv");
            self.stats.recv_pauses += 1;
            self.push_cancel(index, target);
        }
    }

    fn on_file_read(&mut self, index: u32, res: i32) {
        let slot = self.slot(index);
        slot.read_op = None;
        slot.cancelling = false;
        match res {
            0 => slot.rx_eof = true,
            n if n > 0 => {
                let mut buf = std::mem::take(&mut slot.file_buf);
                // SAFETY: the kernel wrote `n` bytes (≤ capacity) into the buffer's start.
                unsafe { buf.set_len(n as usize) };
                slot.rx.push_back(Chunk::Owned { buf, start: 0 });
                slot.rx_bytes += n as usize;
            }
            e if e == -libc::ECANCELED || e == -libc::EINTR || e == -libc::EAGAIN => {}
            e => slot.rx_err = Some(-e),
        }
    }

    fn on_send(&mut self, index: u32, res: i32) {
        let slot = self.slots[index as usize].as_mut().expect("a registered slot");
        slot.send_op = None;
        if res < 0 {
            if res != -libc::EINTR && res != -libc::EAGAIN {
                slot.tx_err = Some(-res);
                slot.tx.clear();
                slot.tx_flight.clear();
                slot.tx_off = 0;
                return;
            }
        } else {
            slot.tx_off += res as usize;
            if slot.tx_off < slot.tx_flight.len() {
                self.stats.short_sends += 1;
            }
        }
        let slot = self.slots[index as usize].as_mut().expect("a registered slot");
        let rest = slot.tx_off < slot.tx_flight.len() || !slot.tx.is_empty();
        if rest && slot.live {
            if !slot.send_queued {
                slot.send_queued = true;
                self.send_list.push(index);
            }
        } else if slot.tx.is_empty() {
            // Idle: an idle socket holds no output buffer.
            let (a, b) = (std::mem::take(&mut slot.tx), std::mem::take(&mut slot.tx_flight));
            slot.tx_off = 0;
            self.keep_buf(a);
            self.keep_buf(b);
        }
    }

    /// Cancels every armed operation and waits (up to `limit`) until none is in flight, so that
    /// no memory the kernel might still write is freed. Returns whether all ended.
    pub fn quiesce(&mut self, limit: Duration) -> bool {
        for index in 0..self.slots.len() as u32 {
            let Some(slot) = self.slots[index as usize].as_mut() else { continue };
            let targets = [slot.read_op.filter(|_| !slot.cancelling), slot.send_op];
            slot.cancelling = true;
            slot.live = false;
            for t in targets.into_iter().flatten() {
                self.push_cancel(index, t);
            }
            self.finish_if_idle(index);
        }
        let deadline = std::time::Instant::now() + limit;
        let mut wake = Vec::new();
        while self.slots.iter().any(|s| s.is_some()) {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            if self.submit_and_wait(Some(deadline - now), &mut wake).is_err() {
                return false;
            }
            wake.clear();
        }
        true
    }

    /// Takes every waker the reactor holds (at shutdown, to drop them outside a borrow).
    pub fn take_wakers(&mut self) -> Vec<Waker> {
        let mut all = Vec::new();
        for slot in self.slots.iter_mut().flatten() {
            all.extend(slot.read_waker.take());
            all.extend(slot.write_waker.take());
        }
        all
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        if self.slots.iter().any(|s| s.is_some()) && !self.quiesce(Duration::from_secs(1)) {
            // Operations still in flight may write into these buffers: leak rather than free.
            log::error!("io_uring: operations still in flight at shutdown; leaking their buffers");
            std::mem::forget(self.bufs.take());
            std::mem::forget(std::mem::take(&mut self.slots));
        }
    }
}

fn set_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}
