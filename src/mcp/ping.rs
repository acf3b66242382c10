//! `ping`: answers `{}` at any time, also before `initialize`.

use super::{Answer, Ctx};

pub(super) fn handle(_: &mut Ctx<'_>, _: Option<&str>, out: &mut Vec<u8>) -> Answer {
    out.extend_from_slice(b"{}");
    Answer::Done
}
