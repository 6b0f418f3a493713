//! `agent-runner-sandbox`: applies a command's sandbox layers to itself and
//! execs the command (see `agent_runner_coding_agent::sandbox::launcher`).

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    agent_runner_coding_agent::sandbox::launcher::main(&args)
}
