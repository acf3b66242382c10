//! `ringmcp::ws::Decoder` on arbitrary client bytes in arbitrary pieces: never panics; the same
//! events and the same first error however the bytes are cut; progress on every call (an event
//! always consumes bytes); between reads only part of one frame header waits in the caller's
//! buffer (payload bytes are consumed as they arrive); an error repeats on every later call;
//! nothing after a close; events within their limits and echoable with the `write_*` functions
//! (which panic on what must not be sent).
//!
//! Input: byte 0 picks `max_message_bytes` (1..=1021), byte 1 seeds the piece sizes, the rest
//! is the byte stream after the handshake.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmcp::ws::{self, Decoder, Event, ProtocolError, CLOSE_REASON_BYTES_MAX, CONTROL_PAYLOAD_BYTES_MAX};

#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    error: Option<ProtocolError>,
}

fuzz_target!(|data: &[u8]| {
    let [limit, seed, stream @ ..] = data else { return };
    let max_message_bytes = usize::from(*limit) * 4 + 1;
    let whole = decode(&[stream], max_message_bytes);
    let pieces = pieces(stream, *seed);
    assert_eq!(
        decode(&pieces, max_message_bytes),
        whole,
        "pieces {:?}",
        pieces.iter().map(|p| p.len()).collect::<Vec<_>>()
    );
});

/// Feeds `pieces` as a connection does: append what was read, decode from the front until the
/// decoder needs more, drop what it consumed.
fn decode(pieces: &[&[u8]], max_message_bytes: usize) -> Outcome {
    let mut decoder = Decoder::new(max_message_bytes);
    let (mut pending, mut events) = (Vec::new(), Vec::new());
    let mut closed = false;
    for piece in pieces {
        pending.extend_from_slice(piece);
        loop {
            match decoder.decode(&pending) {
                Ok((n, event)) => {
                    assert!(n <= pending.len(), "consumed {n} of {}", pending.len());
                    pending.drain(..n);
                    if let Some(event) = event {
                        assert!(n > 0, "an event without consuming bytes");
                        assert!(!closed, "an event after the close: {event:?}");
                        check(&event, max_message_bytes);
                        closed = matches!(event, Event::Close(..));
                        events.push(event);
                    } else if n == 0 {
                        break;
                    }
                }
                Err(error) => {
                    assert_eq!(decoder.decode(&pending), Err(error), "errors repeat");
                    assert_eq!(decoder.decode(b"\x81\x80\0\0\0\0"), Err(error), "errors repeat");
                    return Outcome { events, error: Some(error) };
                }
            }
        }
        assert!(pending.len() < ws::FRAME_HEADER_BYTES_MAX, "{} bytes wait between reads", pending.len());
    }
    Outcome { events, error: None }
}

/// An event is within its limits and can be answered as the connection answers it.
fn check(event: &Event, max_message_bytes: usize) {
    let mut out = Vec::new();
    match event {
        Event::Text(text) => {
            assert!(text.len() <= max_message_bytes && std::str::from_utf8(text).is_ok());
            ws::write_text(&mut out, text);
        }
        Event::Binary(data) => assert!(data.len() <= max_message_bytes),
        Event::Ping(payload) => ws::write_pong(&mut out, payload),
        Event::Pong(payload) => assert!(payload.len() <= CONTROL_PAYLOAD_BYTES_MAX),
        Event::Close(code, reason) => {
            assert!(reason.len() <= CLOSE_REASON_BYTES_MAX);
            assert!(code.is_some() || reason.is_empty(), "a reason without a code");
            ws::write_close(&mut out, code.unwrap_or(ws::CLOSE_NORMAL), reason);
        }
    }
}

/// `stream` cut into pieces of 1..=24 bytes (sometimes 200), sizes from a xorshift of `seed`.
fn pieces(stream: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed) | 0x100;
    let mut rest = stream;
    let mut out = Vec::new();
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = if state % 8 == 0 { 200 } else { state as usize % 24 + 1 };
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        out.push(piece);
        rest = tail;
    }
    out
}
