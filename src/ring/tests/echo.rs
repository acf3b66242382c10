//! The loop end to end over loopback: an echo server on the ring, plain std clients.

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use ringmcp_ring::{Builder, IoPathChoice, Stream, TcpListener};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::time::Duration;

/// Starts an echo server on its own loop; returns its port.
fn echo_server(path: IoPathChoice, buffers: u32, buffer_bytes: u32) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        Builder::new()
            .io_path(path)
            .recv_buffers(buffers, buffer_bytes)
            .run(async move {
                let listener = TcpListener::from_fd(OwnedFd::from(listener));
                loop {
                    let stream = listener.accept().await.unwrap();
                    ringmcp_ring::spawn(serve(stream)).detach();
                }
            })
            .unwrap();
    });
    port
}

async fn serve(mut stream: Stream) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = stream.close().await;
}

fn round_trip(port: u16, payload: &[u8]) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let writer = {
        let mut c = c.try_clone().unwrap();
        let payload = payload.to_vec();
        std::thread::spawn(move || c.write_all(&payload).unwrap())
    };
    let mut back = vec![0u8; payload.len()];
    c.read_exact(&mut back).unwrap();
    writer.join().unwrap();
    assert!(back == payload, "echo differs");
}

#[test]
fn echoes_on_both_paths() {
    for path in [IoPathChoice::Auto, IoPathChoice::Fallback] {
        let port = echo_server(path, 64, 4096);
        round_trip(port, b"hello\n");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        round_trip(port, &big);
    }
}

#[test]
fn a_tiny_buffer_ring_runs_out_and_recovers() {
    let port = echo_server(IoPathChoice::Auto, 2, 64);
    let clients: Vec<_> = (0..16)
        .map(|i| {
            std::thread::spawn(move || {
                let payload: Vec<u8> = (0..200_000u32).map(|j| ((i + j) % 253) as u8).collect();
                round_trip(port, &payload);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}

#[test]
fn timers_and_spawned_tasks_run() {
    let out = Builder::new()
        .run(async {
            let t = ringmcp_ring::spawn(async {
                ringmcp_ring::sleep(Duration::from_millis(20)).await;
                7
            });
            let late =
                ringmcp_ring::timeout(Duration::from_millis(5), ringmcp_ring::sleep(Duration::from_secs(5))).await;
            (t.await, late.is_err())
        })
        .unwrap();
    assert_eq!(out, (7, true));
}

#[test]
fn a_wake_from_another_thread_reaches_the_loop() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let got = Builder::new()
        .run(async move {
            let (atx, arx) = async_channel();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                atx.send(42u32).unwrap();
                let _ = tx.send(());
            });
            arx.await
        })
        .unwrap();
    rx.recv().unwrap();
    assert_eq!(got, 42);
}

/// A one-shot channel whose receiver is a future woken from the sender's thread.
fn async_channel() -> (OneShotTx, OneShot) {
    let shared = std::sync::Arc::new(std::sync::Mutex::new((None::<u32>, None::<std::task::Waker>)));
    (OneShotTx(shared.clone()), OneShot(shared))
}

type Shared = std::sync::Arc<std::sync::Mutex<(Option<u32>, Option<std::task::Waker>)>>;
struct OneShotTx(Shared);
struct OneShot(Shared);

impl OneShotTx {
    fn send(self, v: u32) -> Result<(), ()> {
        let mut s = self.0.lock().unwrap();
        s.0 = Some(v);
        if let Some(w) = s.1.take() {
            w.wake();
        }
        Ok(())
    }
}

impl std::future::Future for OneShot {
    type Output = u32;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<u32> {
        let mut s = self.0.lock().unwrap();
        match s.0.take() {
            Some(v) => std::task::Poll::Ready(v),
            None => {
                s.1 = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}

#[test]
fn connections_that_stop_reading_do_not_starve_the_others() {
    // The first 8 connections are accepted and never read; their bytes must not keep the
    // (4-buffer) ring from the connection after them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        Builder::new()
            .io_path(IoPathChoice::Auto)
            .recv_buffers(4, 256)
            .run(async move {
                let listener = TcpListener::from_fd(OwnedFd::from(listener));
                let mut idle = Vec::new();
                loop {
                    let stream = listener.accept().await.unwrap();
                    if idle.len() < 8 {
                        // Armed (one read that takes nothing), then never read again.
                        let mut none = [0u8; 0];
                        let _ = (&stream).read(&mut none).await;
                        ringmcp_ring::spawn(async move {
                            let mut one = [0u8; 1];
                            let _ = (&stream).read(&mut one).await;
                            std::future::pending::<()>().await;
                            drop(stream);
                        })
                        .detach();
                        idle.push(());
                    } else {
                        ringmcp_ring::spawn(serve(stream)).detach();
                    }
                }
            })
            .unwrap();
    });
    let stuck: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(&[b'x'; 2000]).unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    round_trip(port, b"still served\n");
    drop(stuck);
}
