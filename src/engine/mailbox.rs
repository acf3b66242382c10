//! A bounded, lock-free channel between cores: many senders, one receiver that awaits on its
//! core's ring. Pushing is a lock-free queue operation plus an atomic waker (which, from
//! another thread, wakes the receiving core through its eventfd); nothing is locked on the
//! message path. Used for each core's inbox and for the answers that come back over it.

use atomic_waker::AtomicWaker;
use concurrent_queue::{ConcurrentQueue, PushError};
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

struct Shared<T> {
    queue: ConcurrentQueue<T>,
    waker: AtomicWaker,
    /// Woken when the receiver goes (senders awaiting [`Sender::closed`]).
    closed_waker: AtomicWaker,
    senders: AtomicUsize,
    receiver_alive: AtomicBool,
}

/// The sending side; clone it for more senders.
pub(crate) struct Sender<T>(Arc<Shared<T>>);

/// The receiving side.
pub(crate) struct Receiver<T>(Arc<Shared<T>>);

/// Why a send failed; the message comes back.
#[derive(Debug)]
pub(crate) enum SendError<T> {
    /// The mailbox holds its capacity.
    Full(T),
    /// The receiver is gone.
    Disconnected(T),
}

/// A mailbox of `capacity` messages.
pub(crate) fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "a mailbox of capacity 0");
    let shared = Arc::new(Shared {
        queue: ConcurrentQueue::bounded(capacity),
        waker: AtomicWaker::new(),
        closed_waker: AtomicWaker::new(),
        senders: AtomicUsize::new(1),
        receiver_alive: AtomicBool::new(true),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Queues `message` without waiting.
    pub fn try_send(&self, message: T) -> Result<(), SendError<T>> {
        if !self.0.receiver_alive.load(Ordering::Acquire) {
            return Err(SendError::Disconnected(message));
        }
        match self.0.queue.push(message) {
            Ok(()) => {
                self.0.waker.wake();
                Ok(())
            }
            Err(PushError::Full(m)) => Err(SendError::Full(m)),
            Err(PushError::Closed(m)) => Err(SendError::Disconnected(m)),
        }
    }

    /// Whether the receiver is gone.
    pub fn is_disconnected(&self) -> bool {
        !self.0.receiver_alive.load(Ordering::Acquire)
    }

    /// Ready once the receiver is gone (one awaiting sender at a time).
    pub async fn closed(&self) {
        poll_fn(|cx| {
            if self.is_disconnected() {
                return Poll::Ready(());
            }
            self.0.closed_waker.register(cx.waker());
            match self.is_disconnected() {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        })
        .await
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::Relaxed);
        Sender(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last sender: the receiver learns there is nothing more to come.
            self.0.waker.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next message if one is there now.
    pub fn try_recv(&self) -> Option<T> {
        self.0.queue.pop().ok()
    }

    /// The next message, or `None` once every sender is gone and the mailbox is empty.
    pub async fn recv(&self) -> Option<T> {
        poll_fn(|cx| {
            if let Ok(m) = self.0.queue.pop() {
                return Poll::Ready(Some(m));
            }
            self.0.waker.register(cx.waker());
            // Read before the second look: once no sender is left, every message it pushed
            // is visible to that look.
            let closed = self.0.senders.load(Ordering::Acquire) == 0;
            // Again after registering: a message or the last drop may have come in between.
            if let Ok(m) = self.0.queue.pop() {
                return Poll::Ready(Some(m));
            }
            if closed {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.0.receiver_alive.store(false, Ordering::Release);
        self.0.queue.close();
        self.0.closed_waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_in_order_then_none_after_the_last_sender() {
        let out = ringmcp_ring::Builder::new()
            .ring_entries(64)
            .recv_buffers(1, 64)
            .run(async {
                let (tx, rx) = bounded::<u32>(2);
                let tx2 = tx.clone();
                tx.try_send(1).unwrap();
                tx2.try_send(2).unwrap();
                assert!(matches!(tx.try_send(3), Err(SendError::Full(3))));
                let sender = std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    tx2.try_send(4).unwrap();
                });
                let mut got = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
                got.push(rx.recv().await.unwrap());
                sender.join().unwrap();
                drop(tx);
                (got, rx.recv().await)
            })
            .unwrap();
        assert_eq!(out, (vec![1, 2, 4], None));
    }

    #[test]
    fn a_gone_receiver_refuses_sends() {
        let (tx, rx) = bounded::<u32>(1);
        drop(rx);
        assert!(tx.is_disconnected());
        assert!(matches!(tx.try_send(1), Err(SendError::Disconnected(1))));
    }
}
