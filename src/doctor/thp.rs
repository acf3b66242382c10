//! Transparent huge pages: `always` backs mimalloc's arenas with 2 MiB pages at once.

use super::host::Host;
use super::Check;
use crate::limits::THP_ALWAYS_BASE_RSS_KB;

/// `/sys/kernel/mm/transparent_hugepage/enabled`: `always` warns, `madvise`, `never` or no
/// THP pass.
pub fn check(host: &Host) -> Check {
    const NAME: &str = "transparent-hugepages";
    let Some(text) = host.file("sys/kernel/mm/transparent_hugepage/enabled") else {
        return Check::pass(NAME, "no transparent huge pages in this kernel".into());
    };
    match selected(text) {
        Some("always") => {
            let (before, after) = THP_ALWAYS_BASE_RSS_KB;
            Check::warn(
                NAME,
                format!(
                    "always: memory is backed by 2 MiB pages whether used or not; measured here, ringmcp's \
                     base RSS went from {:.1} to {:.1} MB",
                    before as f64 / 1000.0,
                    after as f64 / 1000.0
                ),
                "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled\n\
                 for every boot: transparent_hugepage=madvise on the kernel command line"
                    .into(),
            )
        }
        Some(mode) => Check::pass(NAME, format!("{mode}: huge pages only where asked for")),
        None => Check::pass(NAME, format!("`{text}` names no mode in brackets")),
    }
}

/// The bracketed word of a sysfs choice list: `always [madvise] never` → `madvise`.
pub fn selected(text: &str) -> Option<&str> {
    let start = text.find('[')? + 1;
    let len = text[start..].find(']')?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_choice_is_read() {
        assert_eq!(selected("always [madvise] never"), Some("madvise"));
        assert_eq!(selected("[always] madvise never"), Some("always"));
        assert_eq!(selected("always madvise never"), None);
    }
}
