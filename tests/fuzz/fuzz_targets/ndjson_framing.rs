//! NDJSON framing (`ringmcp::framing::next_frame`, public): the frames it splits a stream into
//! are those of a plain reference split at `\n`, whether the stream arrives whole or in pieces
//! of any size (the transports feed it whatever a read returned).
//!
//! Input: byte 0 picks `max_message_bytes` (1..=256, small so that `TooLong` is reached), byte 1
//! seeds the piece sizes, the rest is the stream.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmcp::framing::{next_frame, Frame};

/// What a stream splits into, in order; ends at the first `TooLong` (the connection closes).
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Line(Vec<u8>),
    TooLong,
}

fuzz_target!(|data: &[u8]| {
    let [limit, seed, stream @ ..] = data else { return };
    let max_message_bytes = usize::from(*limit) + 1;
    let want = reference(stream, max_message_bytes);
    let whole = split(&[stream], max_message_bytes);
    assert_eq!(whole, want, "whole stream, max_message_bytes {max_message_bytes}");
    let pieces = pieces(stream, *seed, max_message_bytes);
    let got = split(&pieces, max_message_bytes);
    assert_eq!(got, want, "stream in pieces {pieces:?}, max_message_bytes {max_message_bytes}");
});

/// The frames of `stream` fed one piece at a time, as a connection does: append what was read,
/// take every complete frame off the front, keep the rest for the next read.
fn split(pieces: &[&[u8]], max_message_bytes: usize) -> Vec<Out> {
    let mut out = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for piece in pieces {
        pending.extend_from_slice(piece);
        let mut used = 0;
        loop {
            let buf = &pending[used..];
            match next_frame(buf, max_message_bytes) {
                Frame::Line(line, n) => {
                    check_line(buf, line, n, max_message_bytes);
                    out.push(Out::Line(line.to_vec()));
                    used += n;
                }
                Frame::Blank(n) => {
                    assert!(n > 0 && n <= buf.len() && buf[n - 1] == b'\n', "blank of {n} in {buf:?}");
                    assert!(buf[..n].iter().all(u8::is_ascii_whitespace), "blank {:?}", &buf[..n]);
                    used += n;
                }
                Frame::Incomplete => {
                    assert!(!buf.contains(&b'\n') && buf.len() <= max_message_bytes + 1, "incomplete {buf:?}");
                    break;
                }
                Frame::TooLong => {
                    out.push(Out::TooLong);
                    return out;
                }
            }
        }
        pending.drain(..used);
    }
    out
}

/// A line frame is the bytes before the first newline, less one `\r`, within the limit.
fn check_line(buf: &[u8], line: &[u8], n: usize, max_message_bytes: usize) {
    assert!(n > 0 && n <= buf.len() && buf[n - 1] == b'\n', "line of {n} in {buf:?}");
    assert!(!buf[..n - 1].contains(&b'\n'), "line {line:?} spans a newline");
    let body = &buf[..n - 1];
    assert_eq!(line, body.strip_suffix(b"\r").unwrap_or(body));
    assert!(line.len() <= max_message_bytes && !line.iter().all(u8::is_ascii_whitespace));
}

/// The same frames by the rule itself: split at `\n`, drop one `\r` before it, skip blank lines;
/// a line (or an unfinished last line that cannot end within the limit) over the limit ends the
/// stream with `TooLong`.
fn reference(stream: &[u8], max_message_bytes: usize) -> Vec<Out> {
    let mut out = Vec::new();
    let mut parts = stream.split(|&b| b == b'\n').peekable();
    while let Some(part) = parts.next() {
        let finished = parts.peek().is_some();
        let line = if finished { part.strip_suffix(b"\r").unwrap_or(part) } else { part };
        // An unfinished line may still lose a trailing `\r` to its line ending.
        let len = if finished { line.len() } else { line.len() - usize::from(line.ends_with(b"\r")) };
        if len > max_message_bytes {
            out.push(Out::TooLong);
            break;
        }
        if finished && !line.iter().all(u8::is_ascii_whitespace) {
            out.push(Out::Line(line.to_vec()));
        }
    }
    out
}

/// `stream` cut into pieces of 1..=2·limit+2 bytes, sizes from a xorshift seeded by `seed`.
fn pieces(stream: &[u8], seed: u8, max_message_bytes: usize) -> Vec<&[u8]> {
    let mut state = u32::from(seed) | 0x100;
    let mut rest = stream;
    let mut out = Vec::new();
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = (state as usize % (2 * max_message_bytes + 2) + 1).min(rest.len());
        let (piece, tail) = rest.split_at(size);
        out.push(piece);
        rest = tail;
    }
    out
}
