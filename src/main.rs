//! The `ringmcp` command: `serve` (TCP, one pinned executor per core), `stdio`, `doctor`.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use ringmcp::config::{SettingArgs, Settings};
use ringmcp::ServeError;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// ringmcp — a thread-per-core Model Context Protocol server on io_uring.
///
/// Every setting can come from a TOML file (--config), with flags winning over the file;
/// `serve --print-config` shows the result. A bad setting exits with code 2 and names it.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a TCP server listens and which CPUs it runs on.
#[derive(clap::Args, Debug)]
struct Placement {
    /// Address and port to listen on [default: 127.0.0.1:9999].
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Serve on the first N online CPUs [default: all].
    #[arg(long, value_name = "N", conflicts_with = "cpus")]
    cores: Option<u64>,
    /// Serve on these CPUs, taskset syntax: 0, 0-3, 0,2,5.
    #[arg(long, value_name = "LIST")]
    cpus: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve MCP over TCP (NDJSON, one JSON-RPC message per line) on every selected core.
    ///
    /// Each core runs its own executor, pinned, with its own SO_REUSEPORT listener; the
    /// kernel spreads connections across them. SIGINT/SIGTERM drains and exits 0.
    Serve {
        #[command(flatten)]
        place: Placement,
        /// Print the effective configuration as TOML and exit.
        #[arg(long)]
        print_config: bool,
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// Benchmark ceiling: the same engine as `serve` (cores, listeners, framing, buffer pool,
    /// one write per read) writing every NDJSON line back unchanged, with no MCP work.
    ///
    /// Not an MCP server. It shows what the box and the engine can do, so that the benchmark
    /// can report how close `serve` comes to it.
    Ceiling {
        #[command(flatten)]
        place: Placement,
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// Serve one MCP session on stdin/stdout (what desktop clients and SDK stdio transports
    /// launch). Only MCP messages go to stdout; logs go to stderr.
    Stdio {
        /// Print the effective configuration as TOML and exit.
        #[arg(long)]
        print_config: bool,
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// Check this host for the configuration given (same --config, --cores/--cpus and setting
    /// flags as `serve`): one PASS, WARN or FAIL line per check, with the fix for each.
    ///
    /// Checks: the open-files limit (max_connections + a margin; serve raises the soft limit
    /// to the hard one), the locked-memory limit (the rings; only binding before Linux 5.12),
    /// net.core.somaxconn and tcp_max_syn_backlog against `backlog`, every value of
    /// sysctl/99-ringmcp.conf, kernel.io_uring_disabled, the io_uring features of the
    /// multishot path (SINGLE_ISSUER, DEFER_TASKRUN, buffer rings), the selected CPUs against
    /// the online ones, their frequency governor, and transparent huge pages.
    /// Limits are read from /proc/self/limits: the shell's, not a systemd unit's.
    ///
    /// Exit code: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 for a
    /// bad argument or setting.
    Doctor {
        #[command(flatten)]
        place: Placement,
        /// Print a JSON array of {check, verdict, detail, fix} instead of text.
        #[arg(long)]
        json: bool,
        /// Directory under which /proc and /sys are read (for tests; a file
        /// `ringmcp-doctor-io-uring` in it replaces the kernel's io_uring probe).
        #[arg(long, value_name = "DIR", default_value = "/", hide = true)]
        root: std::path::PathBuf,
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// Print the `sha256:<hex>` form of an API key read from stdin (one line), for
    /// `auth_api_keys_file` (`<key-id> sha256:<hex> [scope ...]`). Same as
    /// `printf %s "$KEY" | sha256sum`.
    HashKey {
        /// Make a new random key (rmk_ + 43 base64url characters) and print it, then its hash.
        #[arg(long)]
        generate: bool,
    },
}

fn main() -> ExitCode {
    let mut cmd = Cli::command();
    for sub in ["serve", "stdio", "ceiling", "doctor"] {
        cmd = cmd.mut_subcommand(sub, SettingArgs::decorate);
    }
    let cli = match Cli::from_arg_matches(&cmd.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let cli = match cli.command {
        Command::HashKey { generate } => return hash_key(generate),
        Command::Doctor { place, json, root, settings } => return doctor(&settings, place, json, &root),
        command => Cli { command },
    };
    let (args, overrides, print_config, mode) = match cli.command {
        Command::Serve { place, print_config, settings } => (settings, Some(place), print_config, Mode::Serve),
        Command::Ceiling { place, settings } => (settings, Some(place), false, Mode::Ceiling),
        Command::Stdio { print_config, settings } => (settings, None, print_config, Mode::Stdio),
        Command::HashKey { .. } | Command::Doctor { .. } => unreachable!("answered above"),
    };
    let settings = match load(&args, overrides) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if print_config {
        print!("{}", settings.to_toml());
        return ExitCode::SUCCESS;
    }
    ringmcp::logger::init(settings.log_level.to_filter());
    let Some(server) = ringmcp::packs::build(&settings.pack, settings.instructions.as_deref()) else {
        unreachable!("pack validated by Settings::validate");
    };
    let result = match mode {
        Mode::Serve => server.serve(&settings),
        Mode::Ceiling => server.serve_raw_echo(&settings),
        Mode::Stdio => server.stdio(&settings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(ServeError::Config(e)) => fail(e),
        Err(e) => {
            eprintln!("ringmcp: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `ringmcp hash-key`: the key file form of a key from stdin, or of a new key.
fn hash_key(generate: bool) -> ExitCode {
    if generate {
        let key = ringmcp::auth::apikey::generate_key();
        println!("{key}\n{}", ringmcp::auth::apikey::hash_key(&key));
        return ExitCode::SUCCESS;
    }
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("ringmcp: cannot read the key from stdin: {e}");
        return ExitCode::FAILURE;
    }
    let key = line.trim_end_matches(['\n', '\r']);
    if key.is_empty() {
        eprintln!("ringmcp: no key on stdin (e.g. `printf %s \"$KEY\" | ringmcp hash-key`)");
        return ExitCode::from(2);
    }
    println!("{}", ringmcp::auth::apikey::hash_key(key));
    ExitCode::SUCCESS
}

/// `ringmcp doctor`: the host against the settings; exit 1 when a check failed.
fn doctor(args: &SettingArgs, place: Placement, json: bool, root: &std::path::Path) -> ExitCode {
    let settings = match load(args, Some(place)) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let host = ringmcp::doctor::host::Host::read(root, &ringmcp::doctor::sysctl_keys());
    let checks = ringmcp::doctor::run(&host, &ringmcp::doctor::Plan::from_settings(&settings));
    let report = if json { ringmcp::doctor::render_json(&checks) } else { ringmcp::doctor::render_text(&checks) };
    print!("{report}");
    ExitCode::from(ringmcp::doctor::exit_code(&checks))
}

enum Mode {
    Serve,
    Ceiling,
    Stdio,
}

fn load(args: &SettingArgs, place: Option<Placement>) -> Result<Settings, ringmcp::config::ConfigError> {
    let mut base = Settings::base(args)?;
    if let Some(Placement { listen, cores, cpus }) = place {
        if let Some(l) = listen {
            base.listen = l;
        }
        if cores.is_some() || cpus.is_some() {
            base.cores = cores;
            base.cpus = cpus;
        }
    }
    Settings::load_onto(base, args)
}

fn fail(e: ringmcp::config::ConfigError) -> ExitCode {
    eprintln!("ringmcp: {e}");
    ExitCode::from(2)
}
