//! RFC 6455 WebSocket, server side, I/O-free: the upgrade handshake, a frame [`Decoder`] that
//! reassembles client messages, and writers that append server frames to an output buffer.
//!
//! The transport feeds its read buffer to [`Decoder::decode`], drains the bytes it reports as
//! consumed, and answers pings and closes with [`write_pong`] and [`write_close`]. Many frames
//! can be appended to one `Vec` and sent with one write. "Not enough bytes yet" is a normal
//! outcome, not an error; a [`ProtocolError`] carries the close code to send before hanging up.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// GUID appended to the client's key before hashing (RFC 6455 section 1.3).
pub const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The only protocol version this server speaks; sent back with a 426 for any other.
pub const SUPPORTED_VERSION: &str = "13";
/// Subprotocol chosen when the client offers it in `Sec-WebSocket-Protocol`.
pub const SUBPROTOCOL: &str = "mcp";
/// Length, in bytes, of the decoded `Sec-WebSocket-Key` nonce.
pub const KEY_NONCE_BYTES: usize = 16;
/// Longest payload, in bytes, of a control frame (ping, pong, close).
pub const CONTROL_PAYLOAD_BYTES_MAX: usize = 125;
/// Longest close reason, in bytes: the control payload less the 2-byte code.
pub const CLOSE_REASON_BYTES_MAX: usize = 123;
/// Longest frame header, in bytes: 2 fixed, 8 of extended length, 4 of mask.
pub const FRAME_HEADER_BYTES_MAX: usize = 14;

/// Close code: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: the server is going away (shutdown).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: the peer broke the framing protocol.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code: a text message or close reason was not valid UTF-8.
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// Close code: a message was longer than the configured limit.
pub const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;
/// Close code: policy violation (a frame not finished within `frame_timeout_ms`).
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
/// Close code: try again later (the server's partial-frame budget is full).
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

const _: () = assert!(CLOSE_REASON_BYTES_MAX + 2 == CONTROL_PAYLOAD_BYTES_MAX);
const _: () = assert!(FRAME_HEADER_BYTES_MAX == 2 + 8 + 4);
const _: () = assert!(CONTROL_PAYLOAD_BYTES_MAX < 126, "control lengths must fit the 7-bit form");

const FIN_BIT: u8 = 0x80;
const RSV_BITS: u8 = 0x70;
const OPCODE_BITS: u8 = 0x0F;
const MASK_BIT: u8 = 0x80;
const LEN_BITS: u8 = 0x7F;
const LEN_16: u8 = 126;
const LEN_64: u8 = 127;

/// An accepted upgrade request: what to put in the 101 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The `Sec-WebSocket-Accept` value.
    pub accept: String,
    /// The chosen subprotocol ([`SUBPROTOCOL`] if the client offered it).
    pub protocol: Option<&'static str>,
}

/// Why an upgrade request was refused; [`HandshakeError::status`] is the HTTP status to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// The method was not `GET`.
    NotGet,
    /// No `Upgrade` header with the token `websocket`.
    NoUpgradeWebsocket,
    /// No `Connection` header with the token `upgrade`.
    NoConnectionUpgrade,
    /// `Sec-WebSocket-Version` missing or not 13: answer 426 with `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// No `Sec-WebSocket-Key` header.
    MissingKey,
    /// More than one `Sec-WebSocket-Key` header (RFC 6455 section 11.3.1).
    DuplicateKey,
    /// The key is not base64 of a 16-byte nonce.
    InvalidKey,
}

impl HandshakeError {
    /// The HTTP status to answer with: 426 for [`HandshakeError::UnsupportedVersion`] (add the
    /// header `Sec-WebSocket-Version: 13`), 400 for the rest.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::UnsupportedVersion => 426,
            _ => 400,
        }
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HandshakeError::NotGet => "a WebSocket upgrade must use GET",
            HandshakeError::NoUpgradeWebsocket => "missing `Upgrade: websocket`",
            HandshakeError::NoConnectionUpgrade => "missing `Connection: upgrade`",
            HandshakeError::UnsupportedVersion => "unsupported Sec-WebSocket-Version (only 13 is spoken)",
            HandshakeError::MissingKey => "missing Sec-WebSocket-Key",
            HandshakeError::DuplicateKey => "more than one Sec-WebSocket-Key",
            HandshakeError::InvalidKey => "Sec-WebSocket-Key is not base64 of 16 bytes",
        })
    }
}

impl std::error::Error for HandshakeError {}

/// The `Sec-WebSocket-Accept` value for a client key: base64(SHA-1(key + [`ACCEPT_GUID`])).
pub fn accept_key(sec_websocket_key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(sec_websocket_key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    BASE64.encode(sha.digest().bytes())
}

/// Checks an HTTP request (method and `(name, value)` headers, e.g. from `httparse`) for a
/// valid WebSocket upgrade. Header names and the `Upgrade`/`Connection` tokens match without
/// case; the subprotocol token matches exactly.
///
/// Errors: the first rule broken; see [`HandshakeError::status`] for the answer.
pub fn check_upgrade<'h>(
    method: &str,
    headers: impl Iterator<Item = (&'h str, &'h [u8])>,
) -> Result<Upgrade, HandshakeError> {
    if method != "GET" {
        return Err(HandshakeError::NotGet);
    }
    let (mut upgrade, mut connection, mut version) = (false, false, false);
    let mut key: Option<&[u8]> = None;
    let mut protocol = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= tokens(value).any(|t| t.eq_ignore_ascii_case(b"websocket"));
        } else if name.eq_ignore_ascii_case("connection") {
            connection |= tokens(value).any(|t| t.eq_ignore_ascii_case(b"upgrade"));
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            version |= value.trim_ascii() == SUPPORTED_VERSION.as_bytes();
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            if key.replace(value.trim_ascii()).is_some() {
                return Err(HandshakeError::DuplicateKey);
            }
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol")
            && tokens(value).any(|t| t == SUBPROTOCOL.as_bytes())
        {
            protocol = Some(SUBPROTOCOL);
        }
    }
    if !upgrade {
        return Err(HandshakeError::NoUpgradeWebsocket);
    }
    if !connection {
        return Err(HandshakeError::NoConnectionUpgrade);
    }
    if !version {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let key = key.ok_or(HandshakeError::MissingKey)?;
    let nonce = BASE64.decode(key).map_err(|_| HandshakeError::InvalidKey)?;
    if nonce.len() != KEY_NONCE_BYTES {
        return Err(HandshakeError::InvalidKey);
    }
    let key = std::str::from_utf8(key).map_err(|_| HandshakeError::InvalidKey)?;
    Ok(Upgrade { accept: accept_key(key), protocol })
}

/// Appends the `101 Switching Protocols` response, with `Sec-WebSocket-Protocol` only when a
/// subprotocol was chosen (pass [`Upgrade::protocol`]).
pub fn write_accept_response(out: &mut Vec<u8>, accept: &str, protocol: Option<&str>) {
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    out.extend_from_slice(b"Sec-WebSocket-Accept: ");
    out.extend_from_slice(accept.as_bytes());
    if let Some(protocol) = protocol {
        out.extend_from_slice(b"\r\nSec-WebSocket-Protocol: ");
        out.extend_from_slice(protocol.as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
}

/// One complete thing a client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A text message, fragments reassembled; the bytes are valid UTF-8.
    Text(Vec<u8>),
    /// A binary message, fragments reassembled.
    Binary(Vec<u8>),
    /// A ping; answer with [`write_pong`] and the same payload.
    Ping(Vec<u8>),
    /// A pong (unsolicited ones are allowed and may be ignored).
    Pong(Vec<u8>),
    /// A close, with its code (absent if the payload was empty) and reason. Echo it with
    /// [`write_close`], then hang up; the decoder discards anything after it.
    Close(Option<u16>, String),
}

/// A client frame broke RFC 6455; send a close with [`ProtocolError::close_code`] and hang up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// A client frame without a mask.
    Unmasked,
    /// A reserved bit was set (no extension is negotiated).
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// A control frame with more than [`CONTROL_PAYLOAD_BYTES_MAX`] bytes.
    ControlTooLong,
    /// A control frame without FIN.
    ControlFragmented,
    /// A continuation frame with no message open.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is still open.
    UnfinishedMessage,
    /// A 64-bit length with its top bit set.
    LengthTopBit,
    /// A close payload of exactly one byte.
    CloseOneByte,
    /// A close code that may not be sent on the wire.
    InvalidCloseCode(u16),
    /// A text message or close reason that is not UTF-8.
    InvalidUtf8,
    /// A message (all fragments together) longer than the limit, in bytes.
    MessageTooBig {
        /// Length announced so far, in bytes.
        len_bytes: u64,
        /// The decoder's `max_message_bytes`.
        max_bytes: usize,
    },
}

impl ProtocolError {
    /// The close code to send: 1009 for size, 1007 for UTF-8, 1002 for the rest.
    pub fn close_code(&self) -> u16 {
        match self {
            ProtocolError::MessageTooBig { .. } => CLOSE_MESSAGE_TOO_BIG,
            ProtocolError::InvalidUtf8 => CLOSE_INVALID_PAYLOAD,
            _ => CLOSE_PROTOCOL_ERROR,
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::Unmasked => f.write_str("client frame is not masked"),
            ProtocolError::ReservedBits => f.write_str("reserved bits set"),
            ProtocolError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            ProtocolError::ControlTooLong => f.write_str("control frame longer than 125 bytes"),
            ProtocolError::ControlFragmented => f.write_str("fragmented control frame"),
            ProtocolError::UnexpectedContinuation => f.write_str("continuation frame with no message open"),
            ProtocolError::UnfinishedMessage => f.write_str("new message before the fragmented one finished"),
            ProtocolError::LengthTopBit => f.write_str("64-bit frame length has its top bit set"),
            ProtocolError::CloseOneByte => f.write_str("close payload of one byte"),
            ProtocolError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8"),
            ProtocolError::MessageTooBig { len_bytes, max_bytes } => {
                write!(f, "message of {len_bytes} bytes exceeds the {max_bytes}-byte limit")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Reassembles client frames into [`Event`]s, one call at a time, from the front of a buffer
/// the caller keeps. Payload bytes are unmasked straight into the message being built, so each
/// is copied once, and a frame may arrive in any number of pieces.
///
/// Memory is bounded by `max_message_bytes` for data plus [`CONTROL_PAYLOAD_BYTES_MAX`] for a
/// control frame interleaved in a fragmented message.
#[derive(Debug)]
pub struct Decoder {
    max_message_bytes: usize,
    /// The frame whose header was consumed and whose payload is still arriving.
    frame: Option<Head>,
    /// Opcode (text or binary) of the data message being assembled, if one is open.
    open: Option<Opcode>,
    message: Vec<u8>,
    control: Vec<u8>,
    /// Once set, every later call returns it again: the connection is done.
    failed: Option<ProtocolError>,
    closed: bool,
}

impl Decoder {
    /// A decoder accepting messages of up to `max_message_bytes` (all fragments together).
    pub fn new(max_message_bytes: usize) -> Decoder {
        assert!(max_message_bytes > 0, "a zero message limit would refuse everything");
        let (message, control) = (Vec::new(), Vec::new());
        Decoder { max_message_bytes, frame: None, open: None, message, control, failed: None, closed: false }
    }

    /// While a frame or a fragmented message is only partly received: the bytes the decoder
    /// holds for it (its buffers' capacity). `None` between messages.
    pub fn partial_bytes(&self) -> Option<usize> {
        (self.frame.is_some() || self.open.is_some()).then(|| self.message.capacity() + self.control.capacity())
    }

    /// Reads from the front of `buf` and returns how many bytes it consumed (drain them) and
    /// the event they completed, if any. `(0, None)` means "need more bytes"; `(n, None)` with
    /// `n > 0` means progress without an event yet (call again). An event always comes with
    /// `n > 0`. After [`Event::Close`] the rest of the input is consumed and ignored.
    ///
    /// Errors: the first violation; the decoder then repeats it on every call.
    pub fn decode(&mut self, buf: &[u8]) -> Result<(usize, Option<Event>), ProtocolError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if self.closed {
            return Ok((buf.len(), None));
        }
        let result = self.step(buf);
        if let Err(error) = result {
            self.failed = Some(error);
        }
        result
    }

    fn step(&mut self, buf: &[u8]) -> Result<(usize, Option<Event>), ProtocolError> {
        let (mut head, mut used) = match self.frame.take() {
            Some(head) => (head, 0),
            None => match self.read_head(buf)? {
                Some((head, len)) => (head, len),
                None => return Ok((0, None)),
            },
        };
        if !head.opcode.is_control() && head.opcode != Opcode::Continuation {
            self.open = Some(head.opcode);
        }
        let available = buf.len() - used;
        let take = usize::try_from(head.remaining).map_or(available, |r| r.min(available));
        let target = if head.opcode.is_control() { &mut self.control } else { &mut self.message };
        unmask_append(target, &buf[used..used + take], head.mask);
        head.mask.rotate_left(take % 4);
        head.remaining -= take as u64;
        used += take;
        assert!(self.message.len() <= self.max_message_bytes, "size was checked at the header");
        assert!(self.control.len() <= CONTROL_PAYLOAD_BYTES_MAX, "size was checked at the header");
        if head.remaining > 0 {
            self.frame = Some(head);
            return Ok((used, None));
        }
        Ok((used, self.finish(head)?))
    }

    /// Parses and checks one frame header against the decoder's state; `Ok(None)` until all
    /// of it is in `buf`. The checks run in a fixed order however the bytes arrive.
    fn read_head(&self, buf: &[u8]) -> Result<Option<(Head, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else { return Ok(None) };
        if b0 & RSV_BITS != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        let fin = b0 & FIN_BIT != 0;
        let opcode = Opcode::from_bits(b0 & OPCODE_BITS).ok_or(ProtocolError::UnknownOpcode(b0 & OPCODE_BITS))?;
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::ControlFragmented);
            }
            if usize::from(b1 & LEN_BITS) > CONTROL_PAYLOAD_BYTES_MAX {
                return Err(ProtocolError::ControlTooLong);
            }
        } else if opcode == Opcode::Continuation {
            if self.open.is_none() {
                return Err(ProtocolError::UnexpectedContinuation);
            }
        } else if self.open.is_some() {
            return Err(ProtocolError::UnfinishedMessage);
        }
        if b1 & MASK_BIT == 0 {
            return Err(ProtocolError::Unmasked);
        }
        let rest = &buf[2..];
        let (len, ext_len) = match b1 & LEN_BITS {
            LEN_16 => match rest.first_chunk::<2>() {
                Some(ext) => (u64::from(u16::from_be_bytes(*ext)), 2),
                None => return Ok(None),
            },
            LEN_64 => match rest.first_chunk::<8>() {
                Some(ext) => (u64::from_be_bytes(*ext), 8),
                None => return Ok(None),
            },
            short => (u64::from(short), 0),
        };
        if len >> 63 != 0 {
            return Err(ProtocolError::LengthTopBit);
        }
        let len_bytes = (self.message.len() as u64).saturating_add(len);
        if !opcode.is_control() && len_bytes > self.max_message_bytes as u64 {
            return Err(ProtocolError::MessageTooBig { len_bytes, max_bytes: self.max_message_bytes });
        }
        let Some(mask) = rest[ext_len..].first_chunk::<4>() else { return Ok(None) };
        Ok(Some((Head { opcode, fin, mask: *mask, remaining: len }, 2 + ext_len + 4)))
    }

    /// Turns a frame whose payload has fully arrived into its event, if it completes one.
    fn finish(&mut self, head: Head) -> Result<Option<Event>, ProtocolError> {
        debug_assert_eq!(head.remaining, 0);
        let event = match head.opcode {
            Opcode::Ping => Event::Ping(std::mem::take(&mut self.control)),
            Opcode::Pong => Event::Pong(std::mem::take(&mut self.control)),
            Opcode::Close => {
                self.closed = true;
                close_event(&std::mem::take(&mut self.control))?
            }
            _ if !head.fin => return Ok(None),
            _ => {
                let message = std::mem::take(&mut self.message);
                match self.open.take() {
                    Some(Opcode::Text) if std::str::from_utf8(&message).is_err() => {
                        return Err(ProtocolError::InvalidUtf8)
                    }
                    Some(Opcode::Text) => Event::Text(message),
                    _ => Event::Binary(message),
                }
            }
        };
        Ok(Some(event))
    }
}

/// Appends a text frame (FIN set, unmasked, as a server sends) carrying `payload`, which the
/// caller guarantees is UTF-8.
pub fn write_text(out: &mut Vec<u8>, payload: &[u8]) {
    write_frame(out, FIN_BIT | Opcode::Text as u8, payload);
}

/// Appends a ping frame. Panics if `payload` is longer than [`CONTROL_PAYLOAD_BYTES_MAX`].
pub fn write_ping(out: &mut Vec<u8>, payload: &[u8]) {
    assert!(payload.len() <= CONTROL_PAYLOAD_BYTES_MAX, "ping payload of {} bytes", payload.len());
    write_frame(out, FIN_BIT | Opcode::Ping as u8, payload);
}

/// Appends a pong frame (echo the ping's payload). Panics if `payload` is longer than
/// [`CONTROL_PAYLOAD_BYTES_MAX`]; a decoded ping's never is.
pub fn write_pong(out: &mut Vec<u8>, payload: &[u8]) {
    assert!(payload.len() <= CONTROL_PAYLOAD_BYTES_MAX, "pong payload of {} bytes", payload.len());
    write_frame(out, FIN_BIT | Opcode::Pong as u8, payload);
}

/// Appends a close frame with `code` and `reason`, the reason cut at a character boundary to
/// at most [`CLOSE_REASON_BYTES_MAX`] bytes. Panics if `code` may not be sent on the wire.
pub fn write_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    assert!(close_code_is_valid(code), "close code {code} may not be sent");
    let mut cut = reason.len().min(CLOSE_REASON_BYTES_MAX);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = [0u8; CONTROL_PAYLOAD_BYTES_MAX];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + cut].copy_from_slice(&reason.as_bytes()[..cut]);
    write_frame(out, FIN_BIT | Opcode::Close as u8, &payload[..2 + cut]);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Opcode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
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

/// A checked frame header; `mask` is rotated so that `mask[0]` applies to the next byte.
#[derive(Debug, Clone, Copy)]
struct Head {
    opcode: Opcode,
    fin: bool,
    mask: [u8; 4],
    remaining: u64,
}

fn write_frame(out: &mut Vec<u8>, first_byte: u8, payload: &[u8]) {
    out.reserve(FRAME_HEADER_BYTES_MAX + payload.len());
    out.push(first_byte);
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
}

fn unmask_append(target: &mut Vec<u8>, chunk: &[u8], mask: [u8; 4]) {
    let start = target.len();
    target.extend_from_slice(chunk);
    for (i, byte) in target[start..].iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

fn close_event(payload: &[u8]) -> Result<Event, ProtocolError> {
    match payload {
        [] => Ok(Event::Close(None, String::new())),
        [_] => Err(ProtocolError::CloseOneByte),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !close_code_is_valid(code) {
                return Err(ProtocolError::InvalidCloseCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Event::Close(Some(code), reason.to_owned()))
        }
    }
}

/// Codes allowed on the wire: the defined 1000–1003 and 1007–1014 (IANA registry), and the
/// 3000–4999 ranges for libraries and applications. 1004–1006 and 1015 are reserved.
fn close_code_is_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Comma-separated tokens of a header value, trimmed.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// Turns a server-style (unmasked) frame into the client frame masked with `key`.
    fn masked(frame: &[u8], key: [u8; 4]) -> Vec<u8> {
        let head = match frame[1] & LEN_BITS {
            LEN_16 => 4,
            LEN_64 => 10,
            _ => 2,
        };
        let mut out = frame[..head].to_vec();
        out[1] |= MASK_BIT;
        out.extend_from_slice(&key);
        out.extend(frame[head..].iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        out
    }

    /// A masked client frame with the given first byte (FIN, RSV, opcode).
    fn client(first_byte: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        write_frame(&mut frame, first_byte, payload);
        masked(&frame, KEY)
    }

    /// Feeds `input` in pieces of `chunk` bytes into an accumulating buffer, as a transport does.
    fn feed(dec: &mut Decoder, input: &[u8], chunk: usize) -> Result<Vec<Event>, ProtocolError> {
        let (mut buf, mut events) = (Vec::new(), Vec::new());
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                let (n, event) = dec.decode(&buf)?;
                buf.drain(..n);
                match event {
                    Some(event) => events.push(event),
                    None if n == 0 => break,
                    None => {}
                }
            }
        }
        Ok(events)
    }

    fn decode_all(input: &[u8]) -> Result<Vec<Event>, ProtocolError> {
        feed(&mut Decoder::new(1 << 20), input, usize::MAX)
    }

    fn close_code_of(input: &[u8]) -> u16 {
        decode_all(input).expect_err("must be refused").close_code()
    }

    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    fn request(extra: &[(&'static str, &'static [u8])]) -> Vec<(&'static str, &'static [u8])> {
        let mut headers: Vec<(&str, &[u8])> = vec![
            ("Host", b"server.example.com"),
            ("upgrade", b"WebSocket"),
            ("Connection", b"keep-alive, Upgrade"),
            ("Sec-WebSocket-Version", b"13"),
        ];
        headers.extend_from_slice(extra);
        headers
    }

    #[test]
    fn valid_upgrade_is_accepted_and_mcp_is_echoed_only_when_offered() {
        let key = ("Sec-WebSocket-Key", &b" dGhlIHNhbXBsZSBub25jZQ== "[..]);
        let up = check_upgrade("GET", request(&[key]).into_iter()).unwrap();
        assert_eq!(up, Upgrade { accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(), protocol: None });
        let offer = ("Sec-WebSocket-Protocol", &b"chat, mcp"[..]);
        let up = check_upgrade("GET", request(&[key, offer]).into_iter()).unwrap();
        assert_eq!(up.protocol, Some("mcp"));
        let mut out = Vec::new();
        write_accept_response(&mut out, &up.accept, up.protocol);
        assert_eq!(
            out,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mcp\r\n\r\n"
        );
    }

    #[test]
    fn bad_upgrades_are_refused_with_400_or_426() {
        let key: (&str, &[u8]) = ("Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ==");
        let check = |method: &str, headers: Vec<(&'static str, &'static [u8])>| {
            let refused = check_upgrade(method, headers.into_iter()).unwrap_err();
            assert!(!refused.to_string().is_empty());
            (refused, refused.status())
        };
        assert_eq!(check("POST", request(&[key])), (HandshakeError::NotGet, 400));
        let mut no_upgrade = request(&[key]);
        no_upgrade[1].1 = b"h2c";
        assert_eq!(check("GET", no_upgrade), (HandshakeError::NoUpgradeWebsocket, 400));
        let mut no_connection = request(&[key]);
        no_connection[2].1 = b"keep-alive";
        assert_eq!(check("GET", no_connection), (HandshakeError::NoConnectionUpgrade, 400));
        let mut old = request(&[key]);
        old[3].1 = b"8";
        assert_eq!(check("GET", old), (HandshakeError::UnsupportedVersion, 426));
        assert_eq!(check("GET", request(&[])), (HandshakeError::MissingKey, 400));
        assert_eq!(check("GET", request(&[key, key])), (HandshakeError::DuplicateKey, 400));
        let short = ("Sec-WebSocket-Key", &b"c2hvcnQ="[..]);
        assert_eq!(check("GET", request(&[short])), (HandshakeError::InvalidKey, 400));
        let garbage = ("Sec-WebSocket-Key", &b"not base64!"[..]);
        assert_eq!(check("GET", request(&[garbage])), (HandshakeError::InvalidKey, 400));
    }

    #[test]
    fn rfc_single_frame_examples_decode_and_encode() {
        let hello = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        assert_eq!(decode_all(&hello), Ok(vec![Event::Text(b"Hello".to_vec())]));
        let pong = [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        assert_eq!(decode_all(&pong), Ok(vec![Event::Pong(b"Hello".to_vec())]));
        let mut out = Vec::new();
        write_text(&mut out, b"Hello");
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        out.clear();
        write_ping(&mut out, b"Hello");
        assert_eq!(out, [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    }

    #[test]
    fn rfc_fragmented_example_reassembles_around_an_interleaved_ping() {
        let mut input = masked(&[0x01, 0x03, 0x48, 0x65, 0x6c], KEY);
        input.extend(client(0x89, b"hi"));
        input.extend(masked(&[0x80, 0x02, 0x6c, 0x6f], [1, 2, 3, 4]));
        let events = decode_all(&input).unwrap();
        assert_eq!(events, [Event::Ping(b"hi".to_vec()), Event::Text(b"Hello".to_vec())]);
    }

    #[test]
    fn rfc_256_byte_and_64_kib_lengths_use_16_and_64_bit_forms() {
        for (len, header) in [(256, &[0x81, 0x7E, 0x01, 0x00][..]), (65536, &[0x81, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])] {
            let payload = vec![b'x'; len];
            let mut out = Vec::new();
            write_text(&mut out, &payload);
            assert_eq!(&out[..header.len()], header);
            assert_eq!(out.len(), header.len() + len);
            assert_eq!(decode_all(&masked(&out, KEY)), Ok(vec![Event::Text(payload)]));
        }
        let mut edge = Vec::new();
        write_text(&mut edge, &[b'y'; 125]);
        write_text(&mut edge, &[b'y'; 126]);
        write_text(&mut edge, &[b'y'; 65535]);
        assert_eq!((edge[1], edge[2 + 125 + 1]), (125, LEN_16));
    }

    #[test]
    fn protocol_violations_close_with_1002() {
        let mut unmasked = Vec::new();
        write_text(&mut unmasked, b"Hello");
        assert_eq!(decode_all(&unmasked), Err(ProtocolError::Unmasked));
        assert_eq!(decode_all(&client(0xC1, b"x")), Err(ProtocolError::ReservedBits));
        assert_eq!(decode_all(&client(0x83, b"x")), Err(ProtocolError::UnknownOpcode(3)));
        assert_eq!(decode_all(&client(0x8B, b"")), Err(ProtocolError::UnknownOpcode(0xB)));
        assert_eq!(decode_all(&client(0x89, &[0; 126])), Err(ProtocolError::ControlTooLong));
        assert_eq!(decode_all(&client(0x09, b"x")), Err(ProtocolError::ControlFragmented));
        assert_eq!(decode_all(&client(0x80, b"x")), Err(ProtocolError::UnexpectedContinuation));
        let mut two_starts = client(0x01, b"a");
        two_starts.extend(client(0x81, b"b"));
        assert_eq!(decode_all(&two_starts), Err(ProtocolError::UnfinishedMessage));
        assert_eq!(decode_all(&client(0x88, b"x")), Err(ProtocolError::CloseOneByte));
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 2000, 2999, 5000, 65535] {
            let frame = client(0x88, &code.to_be_bytes());
            assert_eq!(decode_all(&frame), Err(ProtocolError::InvalidCloseCode(code)), "code {code}");
        }
        let top_bit = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert_eq!(decode_all(&top_bit), Err(ProtocolError::LengthTopBit));
        for input in [&unmasked[..], &client(0xC1, b"x"), &client(0x88, b"x"), &top_bit] {
            assert_eq!(close_code_of(input), CLOSE_PROTOCOL_ERROR);
        }
    }

    #[test]
    fn invalid_utf8_in_text_or_close_reason_closes_with_1007() {
        assert_eq!(close_code_of(&client(0x81, &[b'a', 0xFF])), CLOSE_INVALID_PAYLOAD);
        let mut reason = 1000u16.to_be_bytes().to_vec();
        reason.extend_from_slice(&[0xC3, 0x28]);
        assert_eq!(close_code_of(&client(0x88, &reason)), CLOSE_INVALID_PAYLOAD);
        // A character split across fragments is fine; only the whole message must be UTF-8.
        let mut split = client(0x01, &[0xE2, 0x82]);
        split.extend(client(0x80, &[0xAC]));
        assert_eq!(decode_all(&split), Ok(vec![Event::Text("€".into())]));
        assert_eq!(decode_all(&client(0x82, &[0xFF])), Ok(vec![Event::Binary(vec![0xFF])]));
    }

    #[test]
    fn oversized_message_closes_with_1009_from_the_header_alone() {
        let frame = client(0x81, &[b'a'; 11]);
        let header_only = &frame[..6];
        let too_big = ProtocolError::MessageTooBig { len_bytes: 11, max_bytes: 10 };
        assert_eq!(feed(&mut Decoder::new(10), header_only, usize::MAX), Err(too_big));
        assert_eq!(too_big.close_code(), CLOSE_MESSAGE_TOO_BIG);
        let mut fragments = client(0x01, &[b'a'; 6]);
        fragments.extend(client(0x89, b"ping"));
        fragments.extend(client(0x80, &[b'a'; 5]));
        let across = ProtocolError::MessageTooBig { len_bytes: 11, max_bytes: 10 };
        assert_eq!(feed(&mut Decoder::new(10), &fragments, usize::MAX), Err(across));
        assert_eq!(feed(&mut Decoder::new(10), &client(0x81, &[b'a'; 10]), 3).unwrap().len(), 1);
        // Control frames do not count against the message limit.
        assert_eq!(feed(&mut Decoder::new(10), &client(0x89, &[0; 125]), 7).unwrap().len(), 1);
    }

    #[test]
    fn close_payloads_decode_and_later_input_is_ignored() {
        let mut input = client(0x88, b"");
        input.extend(client(0x81, b"after"));
        assert_eq!(decode_all(&input), Ok(vec![Event::Close(None, String::new())]));
        let mut out = Vec::new();
        write_close(&mut out, CLOSE_GOING_AWAY, "bye");
        assert_eq!(decode_all(&masked(&out, KEY)), Ok(vec![Event::Close(Some(1001), "bye".into())]));
        out.clear();
        write_close(&mut out, 4000, &"é".repeat(100));
        assert_eq!(out[1] as usize, 2 + 122, "cut to a character boundary within 123 bytes");
    }

    #[test]
    fn an_error_is_repeated_on_every_later_call() {
        let mut dec = Decoder::new(100);
        assert_eq!(dec.decode(&client(0xC1, b"x")), Err(ProtocolError::ReservedBits));
        assert_eq!(dec.decode(&client(0x81, b"ok")), Err(ProtocolError::ReservedBits));
    }

    #[test]
    fn byte_at_a_time_feeding_gives_the_same_events_as_whole_buffers() {
        let mut input = client(0x01, b"{\"jsonrpc\":");
        input.extend(client(0x89, b""));
        input.extend(client(0x00, b"\"2.0\""));
        input.extend(client(0x8A, b"pong"));
        input.extend(client(0x80, b"}"));
        input.extend(client(0x82, &[7; 300]));
        input.extend(client(0x81, &[b'z'; 70_000]));
        input.extend(client(0x81, b""));
        input.extend(client(0x88, &[0x03, 0xE8, b'o', b'k']));
        let whole = decode_all(&input).unwrap();
        assert_eq!(whole.len(), 7);
        assert_eq!(whole[2], Event::Text(b"{\"jsonrpc\":\"2.0\"}".to_vec()));
        assert_eq!(whole[6], Event::Close(Some(1000), "ok".into()));
        for chunk in [1, 2, 3, 13, 4096] {
            assert_eq!(feed(&mut Decoder::new(1 << 20), &input, chunk).unwrap(), whole, "chunk {chunk}");
        }
    }

    #[test]
    fn encoded_frames_round_trip_through_masking() {
        let mut frames = vec![Vec::new(); 10];
        for (frame, len) in frames.iter_mut().zip([0, 1, 125, 126, 65535, 65536, 100_000]) {
            write_text(frame, &vec![b'q'; len]);
        }
        write_ping(&mut frames[7], b"p");
        write_pong(&mut frames[8], b"");
        write_close(&mut frames[9], CLOSE_NORMAL, "done");
        let input: Vec<u8> = frames.iter().enumerate().flat_map(|(i, f)| masked(f, [i as u8, 9, 8, 7])).collect();
        let events = decode_all(&input).unwrap();
        assert_eq!(events.len(), 10);
        assert_eq!(events[6], Event::Text(vec![b'q'; 100_000]));
        assert_eq!(
            events[7..],
            [Event::Ping(b"p".to_vec()), Event::Pong(vec![]), Event::Close(Some(1000), "done".into())]
        );
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A random client frame: mostly well formed, sometimes with a random opcode, reserved
    /// bits, no mask, a huge length field, flipped bytes or a cut-off tail.
    fn random_frame(rng: &mut XorShift) -> Vec<u8> {
        let opcode = match rng.below(10) {
            0 => rng.below(16) as u8,
            1 | 2 => 0x0,
            3 | 4 => 0x1,
            5 => 0x2,
            6 => 0x9,
            7 => 0xA,
            _ => 0x8,
        };
        let fin = if rng.below(4) == 0 { 0 } else { FIN_BIT };
        let rsv = if rng.below(32) == 0 { (rng.below(8) as u8) << 4 } else { 0 };
        let len = match rng.below(10) {
            0 => 0,
            1..=5 => rng.below(126),
            6 | 7 => rng.below(400),
            8 => rng.below(2000),
            _ => rng.below(70_000),
        } as usize;
        let mut payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if rng.below(2) == 0 {
            payload.iter_mut().for_each(|b| *b = b'a' + *b % 26);
        }
        if opcode == 0x8 && len >= 2 && rng.below(2) == 0 {
            let code = [1000u16, 1001, 1011, 3000, 4999][rng.below(5) as usize];
            payload[..2].copy_from_slice(&code.to_be_bytes());
        }
        let mut frame = Vec::new();
        write_frame(&mut frame, fin | rsv | opcode, &payload);
        if rng.below(16) == 0 {
            frame.truncate(2);
            frame[1] = LEN_64;
            frame.extend_from_slice(&rng.next().to_be_bytes());
        }
        let key = (rng.next() as u32).to_ne_bytes();
        let mut frame = if rng.below(32) == 0 { frame } else { masked(&frame, key) };
        for _ in 0..if rng.below(4) == 0 { 1 + rng.below(4) } else { 0 } {
            let at = rng.below(frame.len() as u64) as usize;
            frame[at] ^= 1 << rng.below(8);
        }
        if rng.below(8) == 0 {
            frame.truncate(rng.below(frame.len() as u64 + 1) as usize);
        }
        frame
    }

    /// Runs `frames` random frames through decoders fed in random pieces, checking that each
    /// call consumes at most what it was given and either progresses, waits or fails.
    fn fuzz(seed: u64, frames: usize) -> (usize, usize) {
        let mut rng = XorShift(seed | 1);
        let (mut dec, mut buf) = (Decoder::new(4096), Vec::new());
        let (mut events, mut errors) = (0, 0);
        for _ in 0..frames {
            let input = random_frame(&mut rng);
            let mut rest = &input[..];
            while !rest.is_empty() {
                let piece_max = if rng.below(2) == 0 { 16 } else { 100_000 };
                let piece = (1 + rng.below(piece_max) as usize).min(rest.len());
                buf.extend_from_slice(&rest[..piece]);
                rest = &rest[piece..];
                loop {
                    match dec.decode(&buf) {
                        Ok((n, event)) => {
                            assert!(n <= buf.len(), "consumed {n} of {} bytes", buf.len());
                            assert!(event.is_none() || n > 0, "an event without progress");
                            if n == 0 && event.is_none() {
                                assert!(buf.len() < FRAME_HEADER_BYTES_MAX, "stalled on {} bytes", buf.len());
                            }
                            buf.drain(..n);
                            let closed = matches!(event, Some(Event::Close(..)));
                            events += usize::from(event.is_some());
                            if closed {
                                (dec, buf) = (Decoder::new(4096), Vec::new());
                            }
                            if n == 0 {
                                break;
                            }
                        }
                        Err(_) => {
                            errors += 1;
                            (dec, buf) = (Decoder::new(4096), Vec::new());
                            break;
                        }
                    }
                }
            }
        }
        (events, errors)
    }

    #[test]
    fn seeded_fuzz_never_panics_overreads_or_stalls() {
        let seed = std::env::var("RINGMCP_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_6455);
        let outcome = std::panic::catch_unwind(|| fuzz(seed, 20_000));
        match outcome {
            Ok((events, errors)) => {
                assert!(events > 1000 && errors > 1000, "weak coverage: {events} events, {errors} errors")
            }
            Err(panic) => {
                eprintln!("ws fuzz failed; replay with RINGMCP_FUZZ_SEED={seed}");
                std::panic::resume_unwind(panic);
            }
        }
    }
}
