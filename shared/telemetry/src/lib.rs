//! Logging set-up shared by the binaries: `RUST_LOG` filters (default
//! `info`), `LOG_FORMAT=json` switches to one JSON object per line for log
//! shippers. Logs go to stderr so that stdout stays for command output
//! (`token create` prints only the token).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call more than once (tests):
/// later calls are ignored.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _already_set = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
