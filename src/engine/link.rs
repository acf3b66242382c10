//! The connection core of a connection-bound session (NDJSON over TCP or stdio, WebSocket):
//! its pending output, its count of requests in flight, the tasks of its async requests, the
//! sink of its server-to-client messages, and its close. The transports differ only in how a
//! message is framed on the way out ([`Framing`]) and in how they read.

use super::core::CoreCtx;
use super::dispatch;
use crate::mcp;
use crate::ws;
use std::cell::{RefCell, RefMut};
use std::rc::Rc;
use std::task::Waker;

/// How one JSON-RPC message goes on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Framing {
    /// NDJSON: the message and a newline.
    Lines,
    /// WebSocket: one text frame per message.
    WsText,
}

#[derive(Default)]
struct State {
    /// Framed answers and messages not yet written.
    out: Vec<u8>,
    /// Requests admitted and not yet answered.
    inflight: usize,
    /// The connection is gone: late answers are dropped (their queue slot is still freed).
    closed: bool,
}

/// One connection's core, shared by its task, its requests' tasks and its session's peer.
pub(crate) struct Link {
    core: Rc<CoreCtx>,
    framing: Framing,
    state: RefCell<State>,
    /// Messages a sync handler sent while its own request was answered inline (the output is
    /// borrowed then): they go before that answer.
    aside: RefCell<Vec<u8>>,
    /// Answer lines of one message before they are framed (WebSocket).
    lines: RefCell<Vec<u8>>,
    /// The connection's task.
    waker: Rc<RefCell<Option<Waker>>>,
}

impl Link {
    /// The core of a new connection whose task is woken through `waker`.
    pub fn new(core: Rc<CoreCtx>, framing: Framing, waker: Rc<RefCell<Option<Waker>>>) -> Rc<Link> {
        Rc::new(Link {
            core,
            framing,
            state: RefCell::default(),
            aside: RefCell::default(),
            lines: RefCell::default(),
            waker,
        })
    }

    /// Requests in flight.
    pub fn inflight(&self) -> usize {
        self.state.borrow().inflight
    }

    /// Whether there is output to write.
    pub fn has_output(&self) -> bool {
        !self.state.borrow().out.is_empty()
    }

    /// Nothing in flight and nothing to write.
    pub fn idle(&self) -> bool {
        let st = self.state.borrow();
        st.inflight == 0 && st.out.is_empty()
    }

    /// The output buffer (taken from the core's pool when empty), for bytes already framed.
    pub fn out(&self) -> RefMut<'_, Vec<u8>> {
        let mut st = self.state.borrow_mut();
        if st.out.capacity() == 0 {
            st.out = self.core.pool.borrow_mut().take();
        }
        RefMut::map(st, |s| &mut s.out)
    }

    /// Everything to write now; give the buffer back with [`Link::recycle`] once written.
    pub fn take_output(&self) -> Vec<u8> {
        std::mem::take(&mut self.state.borrow_mut().out)
    }

    /// Returns a written output buffer to the core's pool.
    pub fn recycle(&self, buf: Vec<u8>) {
        if buf.capacity() > 0 {
            self.core.pool.borrow_mut().give(buf);
        }
    }

    /// Answers one message: `answer` writes its answer lines (each ending in `\n`) and may
    /// return a request to run later, which is then spawned on the core.
    pub fn answer(self: &Rc<Self>, answer: impl FnOnce(&mut Vec<u8>) -> Option<dispatch::Later>) {
        let later = match self.framing {
            Framing::Lines => {
                let mut out = self.out();
                let mark = out.len();
                let later = answer(&mut out);
                let aside = std::mem::take(&mut *self.aside.borrow_mut());
                if !aside.is_empty() {
                    out.splice(mark..mark, aside);
                }
                later
            }
            Framing::WsText => {
                let mut lines = std::mem::take(&mut *self.lines.borrow_mut());
                let later = answer(&mut lines);
                self.frame_lines(&mut self.out(), &lines);
                lines.clear();
                *self.lines.borrow_mut() = lines;
                later
            }
        };
        if let Some(later) = later {
            self.spawn_later(later);
        }
    }

    /// Runs an async request on this core; its answer joins the connection's next write.
    fn spawn_later(self: &Rc<Self>, later: dispatch::Later) {
        self.state.borrow_mut().inflight += 1;
        let link = self.clone();
        let (meta, fut) = later.split();
        ringmcp_ring::spawn(async move {
            let outcome = super::core::run_later(&link.core, fut).await;
            let closed = {
                let mut st = link.state.borrow_mut();
                st.inflight -= 1;
                st.closed
            };
            if closed {
                dispatch::finish_later(&link.core, meta, outcome, None);
            } else {
                let mut lines = Vec::new();
                dispatch::finish_later(&link.core, meta, outcome, Some(&mut lines));
                link.frame_lines(&mut link.out(), &lines);
            }
            link.wake();
        })
        .detach();
    }

    /// Frames each answer line of `lines` into `out`.
    fn frame_lines(&self, out: &mut Vec<u8>, lines: &[u8]) {
        match self.framing {
            Framing::Lines => out.extend_from_slice(lines),
            Framing::WsText => {
                for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    ws::write_text(out, line);
                }
            }
        }
    }

    fn wake(&self) {
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// The connection is gone: late answers are dropped from now on, the output is freed.
    pub fn close(&self) {
        let out = {
            let mut st = self.state.borrow_mut();
            st.closed = true;
            std::mem::take(&mut st.out)
        };
        self.recycle(out);
    }
}

impl mcp::Sink for Link {
    fn send(&self, message: &[u8]) {
        let message = message.strip_suffix(b"\n").unwrap_or(message);
        match self.state.try_borrow_mut() {
            Ok(mut st) => {
                if !st.closed {
                    if st.out.capacity() == 0 {
                        st.out = self.core.pool.borrow_mut().take();
                    }
                    match self.framing {
                        Framing::Lines => {
                            st.out.extend_from_slice(message);
                            st.out.push(b'\n');
                        }
                        Framing::WsText => ws::write_text(&mut st.out, message),
                    }
                }
                drop(st);
                self.wake();
            }
            Err(_) => {
                // Only NDJSON answers into the borrowed output; its framing is the line itself.
                debug_assert_eq!(self.framing, Framing::Lines);
                let mut aside = self.aside.borrow_mut();
                aside.extend_from_slice(message);
                aside.push(b'\n');
            }
        }
    }
}
