//! RFC 6455 WebSocket, client side, no I/O: the upgrade request and the check of the server's
//! `101`, request frames pre-masked once per template, masked control frames, and a decoder
//! of server frames that hands out complete messages in place.
//!
//! Masking: every frame of a run uses one masking key, chosen at random when the run starts.
//! That lets a request's frame be rendered from bytes masked once: only the id digits are
//! masked per request. (RFC 6455 asks for a fresh key per frame so that a script in a browser
//! cannot steer the bytes an intermediary sees; a load generator's payloads are its own, and
//! the server unmasks whatever key a frame carries.)

use crate::request::Template;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use std::fmt;

/// GUID appended to the key before hashing (RFC 6455 section 1.3).
pub const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Longest payload of a control frame (ping, pong, close), in bytes.
pub const CONTROL_PAYLOAD_BYTES_MAX: usize = 125;
/// Longest frame header, in bytes: 2 fixed, 8 of extended length, 4 of mask.
pub const FRAME_HEADER_BYTES_MAX: usize = 14;
/// Close code: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: the peer broke the framing protocol.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code: a message longer than we accept.
pub const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;

const FIN_BIT: u8 = 0x80;
const RSV_BITS: u8 = 0x70;
const OPCODE_BITS: u8 = 0x0F;
const MASK_BIT: u8 = 0x80;
const LEN_BITS: u8 = 0x7F;
const LEN_16: u8 = 126;
const LEN_64: u8 = 127;

const _: () = assert!(FRAME_HEADER_BYTES_MAX == 2 + 8 + 4);
const _: () = assert!(CONTROL_PAYLOAD_BYTES_MAX < LEN_16 as usize, "control lengths fit the 7-bit form");

/// Frame opcodes (RFC 6455 section 5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// A later fragment of a message.
    Continuation = 0x0,
    /// A UTF-8 text message (or its first fragment).
    Text = 0x1,
    /// A binary message (or its first fragment).
    Binary = 0x2,
    /// Close, with an optional code and reason.
    Close = 0x8,
    /// Ping: answer with a pong carrying the same payload.
    Ping = 0x9,
    /// Pong.
    Pong = 0xA,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn is_control(self) -> bool {
        self as u8 & 0x8 != 0
    }
}

/// The `Sec-WebSocket-Key` for a 16-byte nonce: its base64.
pub fn client_key(nonce: [u8; 16]) -> String {
    BASE64.encode(nonce)
}

/// The `Sec-WebSocket-Accept` the server must answer `key` with: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    BASE64.encode(sha.digest().bytes())
}

/// The upgrade request for `path` on `host` with this key. No subprotocol or extension is
/// offered.
pub fn upgrade_request(path: &str, host: &str, key: &str) -> Vec<u8> {
    upgrade_request_with(path, host, key, &crate::http::ExtraHeaders::default())
}

/// [`upgrade_request`] with `extra`'s lines (`--header`, `--bearer-token`) added.
pub fn upgrade_request_with(path: &str, host: &str, key: &str, extra: &crate::http::ExtraHeaders) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
        extra.lines()
    )
    .into_bytes()
}

/// Checks the server's answer to the upgrade request sent with `key`: `Ok(None)` until the
/// whole head is in `buf`, then the head's length (frames may follow it in `buf`).
///
/// # Errors
/// A status other than 101 (with its reason), or a 101 without `Upgrade: websocket`,
/// `Connection: upgrade` or the right `Sec-WebSocket-Accept`, or with a subprotocol or
/// extension we did not offer.
pub fn check_upgrade_response(buf: &[u8], key: &str) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; crate::http::HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("bad HTTP response to the WebSocket upgrade: {e}")),
    };
    let status = response.code.unwrap_or(0);
    if status != 101 {
        return Err(format!("WebSocket upgrade refused: HTTP {status} {}", response.reason.unwrap_or("")));
    }
    let (mut upgrade, mut connection, mut accept) = (false, false, None);
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        let has_token = |token: &str| value.split(',').any(|t| t.trim().eq_ignore_ascii_case(token));
        let name = header.name;
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= has_token("websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection |= has_token("upgrade");
        } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
            accept = Some(value);
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol")
            || name.eq_ignore_ascii_case("sec-websocket-extensions")
        {
            return Err(format!("the 101 names `{name}: {value}`, which loadgen did not offer"));
        }
    }
    if !upgrade {
        return Err("the 101 lacks `Upgrade: websocket`".into());
    }
    if !connection {
        return Err("the 101 lacks `Connection: Upgrade`".into());
    }
    let want = accept_key(key);
    match accept {
        Some(got) if got == want => Ok(Some(head_len)),
        Some(got) => Err(format!("wrong Sec-WebSocket-Accept `{got}` (expected `{want}`)")),
        None => Err("the 101 lacks Sec-WebSocket-Accept".into()),
    }
}

/// XORs `bytes` with `mask`, as if they started at byte `offset` of a frame's payload.
pub fn apply_mask(bytes: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut mask = mask;
    mask.rotate_left(offset % 4);
    let wide = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut chunks = bytes.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().unwrap_or_else(|_| unreachable!("chunks of 8")));
        chunk.copy_from_slice(&(word ^ wide).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// Appends a frame header: FIN and `opcode`, the payload length, and the masking key.
fn write_head(out: &mut Vec<u8>, opcode: Opcode, len: usize, mask: [u8; 4]) {
    out.push(FIN_BIT | opcode as u8);
    match len {
        0..=125 => out.push(MASK_BIT | len as u8),
        126..=0xFFFF => {
            out.push(MASK_BIT | LEN_16);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(MASK_BIT | LEN_64);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
}

/// Appends one whole masked frame (FIN set) carrying `payload`.
pub fn write_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8], mask: [u8; 4]) {
    out.reserve(FRAME_HEADER_BYTES_MAX + payload.len());
    write_head(out, opcode, payload.len(), mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask, 0);
}

/// Appends a masked pong echoing a ping's payload (at most 125 bytes, as a decoded ping's is).
pub fn write_pong(out: &mut Vec<u8>, payload: &[u8], mask: [u8; 4]) {
    write_frame(out, Opcode::Pong, &payload[..payload.len().min(CONTROL_PAYLOAD_BYTES_MAX)], mask);
}

/// Appends a masked close frame with `code` and no reason.
pub fn write_close(out: &mut Vec<u8>, code: u16, mask: [u8; 4]) {
    write_frame(out, Opcode::Close, &code.to_be_bytes(), mask);
}

/// A request template as masked text frames. The JSON before and after the id is masked
/// once here (after the id, in all four alignments the id's length can leave it at);
/// rendering a request writes the header, copies the masked prefix, masks the id's few
/// digits and copies the masked suffix.
#[derive(Clone, Debug)]
pub struct RequestFrames {
    mask: [u8; 4],
    prefix: Vec<u8>,
    /// `suffix[r]`: the suffix masked as if it started at a payload offset ≡ r (mod 4).
    suffix: [Vec<u8>; 4],
}

impl RequestFrames {
    /// Masks `template` (rendered without a newline) with `mask`.
    pub fn new(template: &Template, mask: [u8; 4]) -> RequestFrames {
        let (prefix, suffix) = template.parts();
        let mut masked_prefix = prefix.to_vec();
        apply_mask(&mut masked_prefix, mask, 0);
        let suffix = std::array::from_fn(|r| {
            let mut s = suffix.to_vec();
            apply_mask(&mut s, mask, r);
            s
        });
        RequestFrames { mask, prefix: masked_prefix, suffix }
    }

    /// The masking key of every frame of the run.
    pub fn mask(&self) -> [u8; 4] {
        self.mask
    }

    /// Appends the frame of the request with this id.
    pub fn render(&self, id: u64, out: &mut Vec<u8>) {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(id).as_bytes();
        let at = self.prefix.len();
        let suffix = &self.suffix[(at + digits.len()) % 4];
        let len = at + digits.len() + suffix.len();
        let start = out.len();
        write_head(out, Opcode::Text, len, self.mask);
        out.extend_from_slice(&self.prefix);
        out.extend(digits.iter().enumerate().map(|(i, &d)| d ^ self.mask[(at + i) % 4]));
        out.extend_from_slice(suffix);
        debug_assert!(out.len() - start - len <= FRAME_HEADER_BYTES_MAX, "one frame, header and payload");
    }
}

/// What one frame (or the last fragment of a message) from the server completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A whole text or binary message: in the read buffer itself when it came in one frame,
    /// else reassembled (copied once) in the decoder.
    Message(&'a [u8]),
    /// A ping with its payload: answer with [`write_pong`].
    Ping(&'a [u8]),
    /// A pong (loadgen sends no pings; ignored).
    Pong,
    /// A close with its code (none if the payload was empty) and reason.
    Close {
        /// The close code.
        code: Option<u16>,
        /// The reason, as sent.
        reason: &'a [u8],
    },
}

/// A server frame that breaks RFC 6455 (or our message limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A reserved bit is set (no extension was negotiated).
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// A masked server frame (RFC 6455 section 5.1: the client must fail the connection).
    Masked,
    /// A control frame longer than 125 bytes.
    ControlTooLong,
    /// A control frame without FIN.
    ControlFragmented,
    /// A continuation with no message open.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is open.
    UnfinishedMessage,
    /// A 64-bit length with its top bit set.
    LengthTopBit,
    /// A message (all fragments together) longer than the limit.
    TooBig {
        /// Its length so far, in bytes.
        len_bytes: u64,
        /// The limit, in bytes.
        max_bytes: usize,
    },
    /// A close payload of exactly one byte.
    CloseOneByte,
}

impl FrameError {
    /// The close code to send before hanging up: 1009 for size, 1002 for the rest.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::TooBig { .. } => CLOSE_MESSAGE_TOO_BIG,
            _ => CLOSE_PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReservedBits => f.write_str("reserved bits set"),
            FrameError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            FrameError::Masked => f.write_str("masked server frame"),
            FrameError::ControlTooLong => f.write_str("control frame longer than 125 bytes"),
            FrameError::ControlFragmented => f.write_str("fragmented control frame"),
            FrameError::UnexpectedContinuation => f.write_str("continuation frame with no message open"),
            FrameError::UnfinishedMessage => f.write_str("new message before the fragmented one finished"),
            FrameError::LengthTopBit => f.write_str("64-bit frame length has its top bit set"),
            FrameError::TooBig { len_bytes, max_bytes } => {
                write!(f, "message of {len_bytes} bytes exceeds the {max_bytes}-byte limit")
            }
            FrameError::CloseOneByte => f.write_str("close payload of one byte"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Decodes server frames one at a time from the front of the caller's read buffer. A frame
/// is handled once all of it is in the buffer (until then nothing is consumed, and the
/// caller reads more); an unfragmented message is handed out in place, fragments are
/// appended to one reassembly buffer. Control frames may come between fragments.
#[derive(Debug)]
pub struct Decoder {
    max_message_bytes: usize,
    /// A fragmented message is open: `fragments` holds its payload so far.
    open: bool,
    fragments: Vec<u8>,
}

impl Decoder {
    /// A decoder accepting messages of up to `max_message_bytes` (all fragments together).
    pub fn new(max_message_bytes: usize) -> Decoder {
        Decoder { max_message_bytes, open: false, fragments: Vec::new() }
    }

    /// Decodes the frame at the front of `buf`. `Ok(None)`: it is not all there yet (nothing
    /// consumed). `Ok(Some((used, event)))`: the frame took `used` bytes and completed `event`
    /// (`None` for a fragment that does not end its message).
    ///
    /// # Errors
    /// The frame breaks the protocol; the connection should be closed with
    /// [`FrameError::close_code`]. Header errors are found as soon as the header is in.
    pub fn decode<'a>(&'a mut self, buf: &'a [u8]) -> Result<Option<(usize, Option<Event<'a>>)>, FrameError> {
        let Some(head) = self.head(buf)? else { return Ok(None) };
        // Checked against the message limit (or 125 for control frames), so it fits in usize.
        let len = head.len_bytes as usize;
        let Some(payload) = buf.get(head.head_len..head.head_len + len) else { return Ok(None) };
        let used = head.head_len + len;
        let event = match head.opcode {
            Opcode::Ping => Some(Event::Ping(payload)),
            Opcode::Pong => Some(Event::Pong),
            Opcode::Close => Some(close_event(payload)?),
            Opcode::Text | Opcode::Binary if head.fin => Some(Event::Message(payload)),
            Opcode::Text | Opcode::Binary => {
                self.open = true;
                self.fragments.clear();
                self.fragments.extend_from_slice(payload);
                None
            }
            Opcode::Continuation => {
                self.fragments.extend_from_slice(payload);
                debug_assert!(self.fragments.len() <= self.max_message_bytes, "checked at the header");
                if head.fin {
                    self.open = false;
                    Some(Event::Message(&self.fragments))
                } else {
                    None
                }
            }
        };
        Ok(Some((used, event)))
    }

    /// Parses and checks the header at the front of `buf` against the decoder's state;
    /// `Ok(None)` until all of it is in.
    fn head(&self, buf: &[u8]) -> Result<Option<Head>, FrameError> {
        let [b0, b1, ..] = *buf else { return Ok(None) };
        if b0 & RSV_BITS != 0 {
            return Err(FrameError::ReservedBits);
        }
        let fin = b0 & FIN_BIT != 0;
        let opcode = Opcode::from_bits(b0 & OPCODE_BITS).ok_or(FrameError::UnknownOpcode(b0 & OPCODE_BITS))?;
        if b1 & MASK_BIT != 0 {
            return Err(FrameError::Masked);
        }
        if opcode.is_control() {
            if !fin {
                return Err(FrameError::ControlFragmented);
            }
            if usize::from(b1 & LEN_BITS) > CONTROL_PAYLOAD_BYTES_MAX {
                return Err(FrameError::ControlTooLong);
            }
        } else if opcode == Opcode::Continuation {
            if !self.open {
                return Err(FrameError::UnexpectedContinuation);
            }
        } else if self.open {
            return Err(FrameError::UnfinishedMessage);
        }
        let (len, head_len) = match b1 & LEN_BITS {
            LEN_16 => match buf[2..].first_chunk::<2>() {
                Some(ext) => (u64::from(u16::from_be_bytes(*ext)), 4),
                None => return Ok(None),
            },
            LEN_64 => match buf[2..].first_chunk::<8>() {
                Some(ext) => (u64::from_be_bytes(*ext), 10),
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        if len >> 63 != 0 {
            return Err(FrameError::LengthTopBit);
        }
        if !opcode.is_control() {
            let so_far = if opcode == Opcode::Continuation { self.fragments.len() as u64 } else { 0 };
            let len_bytes = so_far.saturating_add(len);
            if len_bytes > self.max_message_bytes as u64 {
                return Err(FrameError::TooBig { len_bytes, max_bytes: self.max_message_bytes });
            }
        }
        Ok(Some(Head { fin, opcode, len_bytes: len, head_len }))
    }
}

/// A checked server frame header.
struct Head {
    fin: bool,
    opcode: Opcode,
    /// Payload length.
    len_bytes: u64,
    /// Header length (2, 4 or 10: server frames carry no mask).
    head_len: usize,
}

fn close_event(payload: &[u8]) -> Result<Event<'_>, FrameError> {
    match payload {
        [] => Ok(Event::Close { code: None, reason: &[] }),
        [_] => Err(FrameError::CloseOneByte),
        [hi, lo, reason @ ..] => Ok(Event::Close { code: Some(u16::from_be_bytes([*hi, *lo])), reason }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Protocol, Workload};

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// Parses one masked client frame: (fin, opcode, unmasked payload, frame length).
    fn parse_client_frame(frame: &[u8]) -> (bool, u8, Vec<u8>, usize) {
        assert!(frame[1] & MASK_BIT != 0, "client frames are masked");
        let (len, at) = match frame[1] & LEN_BITS {
            LEN_16 => (usize::from(u16::from_be_bytes([frame[2], frame[3]])), 4),
            LEN_64 => (u64::from_be_bytes(frame[2..10].try_into().expect("8")) as usize, 10),
            short => (usize::from(short), 2),
        };
        let mask: [u8; 4] = frame[at..at + 4].try_into().expect("4");
        let payload: Vec<u8> = frame[at + 4..at + 4 + len].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        (frame[0] & FIN_BIT != 0, frame[0] & OPCODE_BITS, payload, at + 4 + len)
    }

    /// An unmasked server frame.
    fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            len @ 0..=125 => out.push(len as u8),
            len @ 126..=0xFFFF => {
                out.push(LEN_16);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(LEN_64);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn accept_key_matches_the_rfc_example() {
        // RFC 6455 section 1.3: the nonce "the sample nonce" and its accept value.
        let key = client_key(*b"the sample nonce");
        assert_eq!(key, "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(accept_key(&key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn upgrade_request_and_response_check() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let request = String::from_utf8(upgrade_request("/mcp/ws", "h:1", key)).expect("ascii");
        assert!(request.starts_with("GET /mcp/ws HTTP/1.1\r\nHost: h:1\r\n"), "{request}");
        for line in ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"] {
            assert!(request.contains(&format!("{line}\r\n")), "{request}");
        }
        assert!(request.contains(&format!("Sec-WebSocket-Key: {key}\r\n")) && request.ends_with("\r\n\r\n"));

        let ok = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\
                   Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x00";
        assert_eq!(check_upgrade_response(ok, key), Ok(Some(ok.len() - 2)));
        assert_eq!(check_upgrade_response(&ok[..40], key), Ok(None));
        let wrong = String::from_utf8_lossy(ok).replace("s3pPLM", "XXXXXX");
        assert!(check_upgrade_response(wrong.as_bytes(), key)
            .expect_err("bad accept")
            .contains("Sec-WebSocket-Accept"));
        let refused = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert!(check_upgrade_response(refused, key).expect_err("404").contains("HTTP 404"));
        let no_upgrade = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\
                           Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert!(check_upgrade_response(no_upgrade, key).expect_err("no upgrade").contains("Upgrade: websocket"));
        let protocol = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mcp\r\n\r\n";
        assert!(check_upgrade_response(protocol, key).is_err());
    }

    #[test]
    fn request_frames_are_masked_text_frames_of_the_rendered_request() {
        for (payload, protocol) in
            [5, 100, 200, 70_000].into_iter().flat_map(|p| [(p, Protocol::Session), (p, Protocol::Modern)])
        {
            let template = Template::new(&Workload::echo(payload), protocol, false).expect("renders");
            let frames = RequestFrames::new(&template, MASK);
            // Ids of every length, so the suffix starts at every alignment.
            for id in [1, 12, 123, 1234, 98_765, 1 << 40, u64::MAX] {
                let mut out = Vec::new();
                frames.render(id, &mut out);
                let (fin, opcode, unmasked, len) = parse_client_frame(&out);
                assert!(fin && opcode == Opcode::Text as u8);
                assert_eq!(len, out.len());
                let mut want = Vec::new();
                template.render(id, &mut want);
                assert_eq!(unmasked, want, "payload {payload}, id {id}");
            }
        }
    }

    #[test]
    fn batched_frames_split_back_into_their_requests() {
        let ping = Workload::Method { method: "ping".into(), params: None };
        let template = Template::new(&ping, Protocol::Session, false).expect("renders");
        let frames = RequestFrames::new(&template, MASK);
        let mut out = Vec::new();
        for id in 8..13 {
            frames.render(id, &mut out);
        }
        let mut at = 0;
        for id in 8..13 {
            let (_, _, payload, len) = parse_client_frame(&out[at..]);
            assert_eq!(payload, format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#).as_bytes());
            at += len;
        }
        assert_eq!(at, out.len());
    }

    #[test]
    fn control_frames_are_masked_with_the_right_lengths() {
        let mut out = Vec::new();
        write_pong(&mut out, b"hello", MASK);
        assert_eq!(parse_client_frame(&out), (true, Opcode::Pong as u8, b"hello".to_vec(), 11));
        assert_eq!(&out[2..6], &MASK);
        out.clear();
        write_close(&mut out, CLOSE_NORMAL, MASK);
        assert_eq!(parse_client_frame(&out), (true, Opcode::Close as u8, vec![0x03, 0xe8], 8));
        out.clear();
        write_frame(&mut out, Opcode::Text, &[b'x'; 300], MASK);
        assert_eq!(&out[..4], &[0x81, MASK_BIT | LEN_16, 0x01, 0x2c]);
        assert_eq!(parse_client_frame(&out).2, vec![b'x'; 300]);
    }

    #[test]
    fn apply_mask_is_its_own_inverse_at_every_offset() {
        let original: Vec<u8> = (0..37).collect();
        for offset in 0..8 {
            let mut bytes = original.clone();
            apply_mask(&mut bytes, MASK, offset);
            let want: Vec<u8> = original.iter().enumerate().map(|(i, b)| b ^ MASK[(offset + i) % 4]).collect();
            assert_eq!(bytes, want);
            apply_mask(&mut bytes, MASK, offset);
            assert_eq!(bytes, original);
        }
    }

    #[test]
    fn whole_messages_are_decoded_in_place_and_partial_frames_wait() {
        let mut buf = server_frame(0x81, br#"{"id":1}"#);
        buf.extend(server_frame(0x81, &[b'a'; 200]));
        buf.extend(server_frame(0x81, &[b'b'; 70_000]));
        let mut decoder = Decoder::new(1 << 20);
        for cut in [0, 1, 5, 9] {
            assert_eq!(decoder.decode(&buf[..cut]), Ok(None), "cut at {cut}");
        }
        let (used, event) = decoder.decode(&buf).expect("valid").expect("complete");
        assert_eq!((used, event), (10, Some(Event::Message(br#"{"id":1}"#))));
        let Some((used2, Some(Event::Message(m)))) = decoder.decode(&buf[used..]).expect("valid") else {
            panic!("a message")
        };
        assert_eq!((used2, m.len(), m.as_ptr()), (204, 200, buf[used + 4..].as_ptr()), "in place");
        let rest = &buf[used + used2..];
        assert_eq!(decoder.decode(&rest[..rest.len() - 1]), Ok(None));
        assert_eq!(decoder.decode(rest).expect("valid").map(|(n, _)| n), Some(rest.len()));
    }

    #[test]
    fn fragmented_messages_are_reassembled_around_control_frames() {
        let mut buf = server_frame(0x01, b"{\"jsonrpc\":");
        buf.extend(server_frame(0x89, b"are you there"));
        buf.extend(server_frame(0x00, b"\"2.0\",\"id\":7,"));
        buf.extend(server_frame(0x8A, b""));
        buf.extend(server_frame(0x80, b"\"result\":{}}"));
        let mut decoder = Decoder::new(1024);
        let mut events = Vec::new();
        let mut at = 0;
        while let Some((used, event)) = decoder.decode(&buf[at..]).expect("valid") {
            at += used;
            events.push(event.map(|e| match e {
                Event::Message(m) => format!("message {}", String::from_utf8_lossy(m)),
                Event::Ping(p) => format!("ping {}", String::from_utf8_lossy(p)),
                other => format!("{other:?}"),
            }));
        }
        assert_eq!(at, buf.len());
        assert_eq!(
            events,
            [
                None,
                Some("ping are you there".into()),
                None,
                Some("Pong".into()),
                Some(r#"message {"jsonrpc":"2.0","id":7,"result":{}}"#.into())
            ]
        );
        // The decoder is ready for an unfragmented message after it.
        let next = server_frame(0x81, b"{}");
        assert_eq!(decoder.decode(&next), Ok(Some((4, Some(Event::Message(b"{}"))))));
    }

    #[test]
    fn close_frames_carry_their_code_and_reason() {
        let mut decoder = Decoder::new(1024);
        let frame = server_frame(0x88, b"\x03\xf3server overloaded");
        assert_eq!(
            decoder.decode(&frame),
            Ok(Some((frame.len(), Some(Event::Close { code: Some(1011), reason: b"server overloaded" }))))
        );
        assert_eq!(decoder.decode(&[0x88, 0x00]), Ok(Some((2, Some(Event::Close { code: None, reason: b"" })))));
        assert_eq!(decoder.decode(&[0x88, 0x01, 0x03]), Err(FrameError::CloseOneByte));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_any_split_decodes_alike() {
        // A seeded xorshift: reproducible garbage and reproducible split points.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut decoder = Decoder::new(64);
            let mut at = 0;
            while let Ok(Some((used, _))) = decoder.decode(&bytes[at..]) {
                assert!(used > 0 && at + used <= bytes.len());
                at += used;
            }
        }
        // Valid frames give the same events however the bytes are split across reads.
        let mut stream = server_frame(0x01, b"{\"a\":");
        stream.extend(server_frame(0x89, b"x"));
        stream.extend(server_frame(0x80, b"1}"));
        stream.extend(server_frame(0x81, &[b'z'; 300]));
        let whole = decode_all(&stream, stream.len());
        assert_eq!(whole.len(), 3);
        for step in 1..stream.len() {
            assert_eq!(decode_all(&stream, step), whole, "arriving {step} bytes at a time");
        }
    }

    /// Feeds `stream` to a decoder `step` bytes at a time, as reads would; returns the events.
    fn decode_all(stream: &[u8], step: usize) -> Vec<String> {
        let (mut decoder, mut buf, mut events) = (Decoder::new(1024), Vec::new(), Vec::new());
        for chunk in stream.chunks(step) {
            buf.extend_from_slice(chunk);
            let mut at = 0;
            while let Some((used, event)) = decoder.decode(&buf[at..]).expect("valid") {
                at += used;
                events.extend(event.map(|e| format!("{e:?}")));
            }
            buf.drain(..at);
        }
        assert!(buf.is_empty());
        events
    }

    #[test]
    fn protocol_violations_are_errors_with_close_codes() {
        let decode = |bytes: &[u8]| Decoder::new(100).decode(bytes).map(|_| ());
        assert_eq!(decode(&[0xC1, 0x00]), Err(FrameError::ReservedBits));
        assert_eq!(decode(&[0x83, 0x00]), Err(FrameError::UnknownOpcode(3)));
        assert_eq!(decode(&[0x81, 0x81, 1, 2, 3, 4, b'x']), Err(FrameError::Masked));
        assert_eq!(decode(&[0x89, 126, 0, 126]), Err(FrameError::ControlTooLong));
        assert_eq!(decode(&[0x09, 0x00]), Err(FrameError::ControlFragmented));
        assert_eq!(decode(&[0x80, 0x00]), Err(FrameError::UnexpectedContinuation));
        assert_eq!(decode(&[0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]), Err(FrameError::LengthTopBit));
        let too_big = decode(&[0x81, 101]);
        assert_eq!(too_big, Err(FrameError::TooBig { len_bytes: 101, max_bytes: 100 }));
        assert_eq!(too_big.expect_err("big").close_code(), CLOSE_MESSAGE_TOO_BIG);
        assert_eq!(FrameError::Masked.close_code(), CLOSE_PROTOCOL_ERROR);

        let mut decoder = Decoder::new(100);
        assert_eq!(decoder.decode(&server_frame(0x01, &[b'a'; 60])).map(|r| r.map(|(n, _)| n)), Ok(Some(62)));
        assert_eq!(decoder.decode(&server_frame(0x81, b"{}")), Err(FrameError::UnfinishedMessage));
        assert_eq!(
            decoder.decode(&server_frame(0x80, &[b'a'; 41])),
            Err(FrameError::TooBig { len_bytes: 101, max_bytes: 100 })
        );
    }
}
