//! `ringmcp::http::parse_head`: never panics; a complete head is at most the limit and the
//! input, ends with its blank line, and is the same head whatever follows it; the bytes before
//! its end are "incomplete" (a head split across reads is never refused); "incomplete" is only
//! said within the limit. The `Head` accessors and the header checks run on every head.
//!
//! Input: bytes 0..2 give `max_header_bytes` (big-endian), the rest is what the client sent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmcp::http::{self, parse_head, Head, HeadError, MAX_HEADERS};

fuzz_target!(|data: &[u8]| {
    let [hi, lo, buf @ ..] = data else { return };
    let max_header_bytes = usize::from(u16::from_be_bytes([*hi, *lo]));
    let _ = http::looks_like_http(buf);
    match parse_head(buf, max_header_bytes) {
        Ok(Some((head, n))) => {
            assert!(n > 0 && n <= buf.len() && n <= max_header_bytes, "head of {n} bytes");
            assert!(buf[..n].ends_with(b"\n"), "a head ends with its blank line");
            check_head(&head);
            assert_eq!(parse_head(&buf[..n], max_header_bytes), Ok(Some((head.clone(), n))), "head alone");
            for cut in [n - 1, n / 2, usize::from(*lo) % n] {
                assert_eq!(parse_head(&buf[..cut], max_header_bytes), Ok(None), "first {cut} of a {n}-byte head");
            }
        }
        Ok(None) => assert!(buf.len() <= max_header_bytes, "incomplete past the limit"),
        Err(HeadError::TooLarge | HeadError::Malformed) => {}
    }
});

fn check_head(head: &Head) {
    assert!(head.minor_version <= 1);
    assert!(!head.path.contains('?'), "query string kept in {:?}", head.path);
    assert!(head.headers.len() <= MAX_HEADERS);
    for (name, _) in &head.headers {
        assert!(!name.is_empty() && !name.bytes().any(|b| b.is_ascii_uppercase()), "header name {name:?}");
        let _ = head.header_str(name);
    }
    let _ = (head.keep_alive(), head.content_length());
    let _ = http::accept(head.header_str("accept"));
    let _ = http::is_json_content_type(head.header_str("content-type"));
    let allowed: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(String::from).to_vec();
    let _ = http::host_allowed(head.header_str("host"), &allowed);
    let _ = http::origin_allowed(head.header_str("origin"), &allowed);
    if let Some(host) = head.header_str("host") {
        let _ = http::host_name(host);
    }
}
