//! NDJSON framing: one JSON-RPC message per line (the MCP stdio framing, and erlmcp's TCP
//! framing). I/O-free: the transports feed bytes in and get lines out.
//!
//! `\r\n` is accepted, blank lines are skipped, and "no newline yet" is a normal outcome
//! (wait for more bytes), not an error.

/// What the next bytes of a stream hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its `\n` or `\r\n`, and the bytes it used up (newline included).
    Line(&'a [u8], usize),
    /// A blank (whitespace-only) line to skip, and the bytes it used up.
    Blank(usize),
    /// No newline yet: keep the bytes and read more.
    Incomplete,
    /// The line is longer than the limit (with or without its newline yet).
    TooLong,
}

/// Splits the next frame off the front of `buf`; lines longer than `max_message_bytes`
/// (not counting the line ending) are [`Frame::TooLong`].
pub fn next_frame(buf: &[u8], max_message_bytes: usize) -> Frame<'_> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        // A read can end between a line's `\r` and its `\n`: that `\r` is not the line's.
        let allowed = max_message_bytes + usize::from(buf.last() == Some(&b'\r'));
        return if buf.len() > allowed { Frame::TooLong } else { Frame::Incomplete };
    };
    let line = &buf[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > max_message_bytes {
        return Frame::TooLong;
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Frame::Blank(nl + 1);
    }
    Frame::Line(line, nl + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_with_lf_and_crlf() {
        assert_eq!(next_frame(b"{}\nx", 10), Frame::Line(b"{}", 3));
        assert_eq!(next_frame(b"{}\r\n", 10), Frame::Line(b"{}", 4));
    }

    #[test]
    fn blank_lines_are_skipped() {
        assert_eq!(next_frame(b"\n", 10), Frame::Blank(1));
        assert_eq!(next_frame(b" \r\n{}", 10), Frame::Blank(3));
    }

    #[test]
    fn partial_line_is_incomplete_until_too_long() {
        assert_eq!(next_frame(b"{\"a\"", 10), Frame::Incomplete);
        assert_eq!(next_frame(b"0123456789A", 10), Frame::TooLong);
        assert_eq!(next_frame(b"0123456789A\n", 10), Frame::TooLong);
        assert_eq!(next_frame(b"0123456789\r\n", 10), Frame::Line(b"0123456789", 12));
        // A read that ends between the `\r` and the `\n` of a line of exactly the limit.
        assert_eq!(next_frame(b"0123456789\r", 10), Frame::Incomplete);
        assert_eq!(next_frame(b"0123456789A\r", 10), Frame::TooLong);
    }
}
