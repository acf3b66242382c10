//! Pagination shared by the list methods: opaque `nextCursor` strings, -32602 for a bad one.

use super::{params, write_json, Answer};
use crate::jsonrpc::RpcError;
use serde::Deserialize;
use std::borrow::Cow;

/// Params of every list method.
#[derive(Deserialize, Default)]
pub(super) struct ListParams<'a> {
    #[serde(borrow, default)]
    pub cursor: Option<Cow<'a, str>>,
}

/// Answers a list method: reads its `cursor` param and writes one page of `items`.
pub(super) fn list<'i>(
    raw: Option<&str>,
    out: &mut Vec<u8>,
    key: &str,
    items: impl ExactSizeIterator<Item = &'i [u8]>,
    page_size: usize,
) -> Answer {
    let result =
        params::<ListParams<'_>>(raw).and_then(|p| write_page(out, key, items, p.cursor.as_deref(), page_size));
    super::answer(result)
}

/// Cursors are the offset of the next item, in hex, behind this tag (opaque to clients).
const CURSOR_TAG: &str = "rmcp1-";

/// Writes `{"<key>":[…page…],"nextCursor":"…"}` from pre-serialized items.
pub(super) fn write_page<'i>(
    out: &mut Vec<u8>,
    key: &str,
    items: impl ExactSizeIterator<Item = &'i [u8]>,
    cursor: Option<&str>,
    page_size: usize,
) -> Result<(), RpcError> {
    assert!(page_size > 0, "page_size is validated to be at least 1");
    let total = items.len();
    let start = match cursor {
        None => 0,
        Some(c) => decode(c)
            .filter(|&o| o > 0 && o < total)
            .ok_or_else(|| RpcError::invalid_params(format!("Invalid params: unknown cursor {c:?}")))?,
    };
    let end = total.min(start + page_size);
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":[");
    for (i, item) in items.skip(start).take(end - start).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.push(b']');
    if end < total {
        out.extend_from_slice(b",\"nextCursor\":");
        write_json(out, &format!("{CURSOR_TAG}{end:x}"));
    }
    out.push(b'}');
    Ok(())
}

fn decode(cursor: &str) -> Option<usize> {
    usize::from_str_radix(cursor.strip_prefix(CURSOR_TAG)?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(cursor: Option<&str>, size: usize) -> Result<String, RpcError> {
        let items: Vec<&[u8]> = vec![b"1", b"2", b"3"];
        let mut out = Vec::new();
        write_page(&mut out, "xs", items.into_iter(), cursor, size)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn pages_chain_through_cursors() {
        assert_eq!(page(None, 2).unwrap(), r#"{"xs":[1,2],"nextCursor":"rmcp1-2"}"#);
        assert_eq!(page(Some("rmcp1-2"), 2).unwrap(), r#"{"xs":[3]}"#);
        assert_eq!(page(None, 5).unwrap(), r#"{"xs":[1,2,3]}"#);
    }

    #[test]
    fn bad_cursors_are_invalid_params() {
        for bad in ["", "rmcp1-0", "rmcp1-9", "rmcp1-zz", "2"] {
            assert_eq!(page(Some(bad), 2).unwrap_err().code, -32602, "{bad}");
        }
    }
}
