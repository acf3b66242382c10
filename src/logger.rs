//! A minimal stderr logger (stdout belongs to MCP messages in stdio mode).

use std::io::Write;

struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let _ = writeln!(std::io::stderr().lock(), "ringmcp {:5} {}", r.level(), r.args());
        }
    }

    fn flush(&self) {}
}

/// Sends `log` records at or above `level` to stderr. Later calls only change the level.
pub fn init(level: log::LevelFilter) {
    let _ = log::set_logger(&Stderr);
    log::set_max_level(level);
}
