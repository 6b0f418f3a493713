//! The exit codes scripts can rely on, and the errors that lead to them.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success; a watched run COMPLETED or awaits approval |
//! | 1 | a watched run FAILED |
//! | 2 | usage error (clap) |
//! | 3 | a watched run was CANCELLED or REJECTED |
//! | 4 | the api refused the request (4xx) or answered something unexpected |
//! | 5 | the api is unavailable (5xx) or unreachable, or a worker did not answer in time |
//!
//! `exec` exits with the code of the command it ran instead (see
//! [`Exit::for_command`]); its own failures keep the codes above.

use std::fmt;
use std::process::ExitCode;

/// Exit code of an `exec` whose command the worker killed at its timeout,
/// as `timeout(1)` reports it.
pub const COMMAND_TIMED_OUT: u8 = 124;
/// Exit code of an `exec` whose command was killed by a signal, as shells
/// report SIGKILL (the signal the worker kills with).
pub const COMMAND_KILLED: u8 = 137;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success, or the run COMPLETED (or awaits approval).
    Success,
    /// 1: the run FAILED.
    RunFailed,
    /// 2: the command line was wrong (clap reports it).
    Usage,
    /// 3: the run was CANCELLED or REJECTED.
    RunStopped,
    /// 4: the api refused the request (4xx) or the answer made no sense.
    ClientError,
    /// 5: the api answered 5xx or could not be reached.
    Unavailable,
    /// The non-zero exit code of a command run by `exec` (1 to 255).
    Command(u8),
}

impl Exit {
    /// The exit code for a run that ended (or paused) in `status`.
    pub fn for_run_status(status: &str) -> Exit {
        match status {
            "FAILED" => Exit::RunFailed,
            "CANCELLED" | "REJECTED" => Exit::RunStopped,
            _ => Exit::Success,
        }
    }

    /// The exit code for a command `exec` ran: its own code, a non-zero one
    /// bounded to 1..=255 (so that it never reads as success); without one,
    /// [`COMMAND_TIMED_OUT`] or [`COMMAND_KILLED`].
    pub fn for_command(exit_code: Option<i64>, timed_out: bool) -> Exit {
        match exit_code {
            Some(0) if !timed_out => Exit::Success,
            Some(code) if !timed_out => {
                // In range after the clamp, so the conversion cannot fail.
                Exit::Command(u8::try_from(code.clamp(1, 255)).unwrap_or(u8::MAX))
            }
            _ if timed_out => Exit::Command(COMMAND_TIMED_OUT),
            _ => Exit::Command(COMMAND_KILLED),
        }
    }

    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::RunFailed => 1,
            Exit::Usage => 2,
            Exit::RunStopped => 3,
            Exit::ClientError => 4,
            Exit::Unavailable => 5,
            Exit::Command(code) => code,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// The api answered with an error status.
    Api {
        /// HTTP status.
        status: u16,
        /// The api's error code (`unauthorized`, `not_found`, …).
        code: String,
        /// The api's message.
        message: String,
        /// Base URL of the api, named for server-side failures.
        url: String,
    },
    /// No answer: connection refused, DNS failure, timeout, dropped stream.
    Unreachable {
        /// Base URL of the api.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The request could not be made or its answer not understood
    /// (an unknown project name, a body that is not what the api sends).
    Client(String),
    /// A request handed to a run's worker got no answer within the wait.
    NoAnswer(String),
}

impl CliError {
    /// The exit code this error leads to.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Api { status, .. } if *status >= 500 => Exit::Unavailable,
            CliError::Api { .. } | CliError::Client(_) => Exit::ClientError,
            CliError::Unreachable { .. } | CliError::NoAnswer(_) => Exit::Unavailable,
        }
    }

    /// True for failures worth retrying: 5xx and no answer at all.
    pub fn is_transient(&self) -> bool {
        self.exit() == Exit::Unavailable
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Api {
                status,
                code,
                message,
                url,
            } if *status >= 500 => {
                write!(f, "{code}: {message} (HTTP {status} from the api at {url})")
            }
            CliError::Api {
                status: 401,
                code,
                message,
                ..
            } => {
                write!(
                    f,
                    "{code}: {message} (pass --token or set AGENT_RUNNER_TOKEN)"
                )
            }
            CliError::Api { code, message, .. } => write!(f, "{code}: {message}"),
            CliError::Unreachable { url, detail } => {
                write!(f, "cannot reach the agent-runner api at {url}: {detail}")
            }
            CliError::Client(message) | CliError::NoAnswer(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> CliError {
        CliError::Api {
            status,
            code: "code".into(),
            message: "message".into(),
            url: "http://127.0.0.1:1".into(),
        }
    }

    #[test]
    fn run_statuses_map_to_their_exit_codes() {
        assert_eq!(Exit::for_run_status("COMPLETED").code(), 0);
        assert_eq!(Exit::for_run_status("AWAITING_APPROVAL").code(), 0);
        assert_eq!(Exit::for_run_status("FAILED").code(), 1);
        assert_eq!(Exit::for_run_status("CANCELLED").code(), 3);
        assert_eq!(Exit::for_run_status("REJECTED").code(), 3);
    }

    #[test]
    fn client_errors_exit_4_and_server_errors_exit_5() {
        for status in [400, 401, 403, 404, 409, 413, 415, 422] {
            assert_eq!(api(status).exit().code(), 4, "HTTP {status}");
        }
        for status in [500, 502, 503] {
            assert_eq!(api(status).exit().code(), 5, "HTTP {status}");
        }
        let refused = CliError::Unreachable {
            url: "http://x".into(),
            detail: "refused".into(),
        };
        assert_eq!(refused.exit().code(), 5);
        assert_eq!(
            CliError::Client("no project named `x`".into())
                .exit()
                .code(),
            4
        );
        assert_eq!(Exit::Usage.code(), 2);
    }

    #[test]
    fn messages_show_the_api_code_and_name_the_url_when_the_server_is_at_fault() {
        assert_eq!(api(409).to_string(), "code: message");
        assert!(api(401).to_string().contains("AGENT_RUNNER_TOKEN"));
        assert!(api(503).to_string().contains("http://127.0.0.1:1"));
        let refused = CliError::Unreachable {
            url: "http://127.0.0.1:9".into(),
            detail: "refused".into(),
        };
        assert!(refused.to_string().contains("http://127.0.0.1:9"));
    }

    #[test]
    fn exec_exits_with_the_command_code_bounded_to_a_byte_and_never_0_on_failure() {
        assert_eq!(Exit::for_command(Some(0), false), Exit::Success);
        assert_eq!(Exit::for_command(Some(3), false).code(), 3);
        assert_eq!(Exit::for_command(Some(255), false).code(), 255);
        assert_eq!(Exit::for_command(Some(256), false).code(), 255);
        assert_eq!(Exit::for_command(Some(-1), false).code(), 1);
        assert_eq!(Exit::for_command(None, true).code(), 124);
        assert_eq!(Exit::for_command(Some(0), true).code(), 124);
        assert_eq!(Exit::for_command(None, false).code(), 137);
    }

    #[test]
    fn only_server_side_failures_are_transient() {
        assert!(api(503).is_transient());
        assert!(!api(404).is_transient());
        assert!(!CliError::Client("x".into()).is_transient());
    }
}
