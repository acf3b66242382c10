//! The `loadgen` binary: see `loadgen --help` and loadgen/README.md.

fn main() {
    std::process::exit(ringmcp_loadgen::cli::main());
}
