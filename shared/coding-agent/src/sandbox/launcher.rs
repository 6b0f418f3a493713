//! `agent-runner-sandbox`, the launcher: a small program that applies the
//! in-process layers to itself — joining a pids cgroup, resource limits,
//! Landlock, seccomp, in that order — and then execs the command, so the
//! worker never runs code between `fork` and `exec` (no `pre_exec`, no
//! `unsafe`). The worker describes what to apply with a [`LauncherSpec`],
//! written here as arguments and read back here: one owner of the format.
//!
//! It exits with [`FAILED`] and a line starting `agent-runner-sandbox:` on
//! standard error when a layer can not be applied; the command never runs
//! then.

use super::landlock::LandlockSpec;
use super::limits::Limits;
use super::{cgroup, seccomp};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of a launcher that could not set the sandbox up (as `env`
/// and `chroot` do for themselves).
pub const FAILED: u8 = 125;

/// What the launcher applies before it execs `program`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LauncherSpec {
    /// A cgroup to move into first.
    pub cgroup: Option<PathBuf>,
    /// Resource limits.
    pub limits: Option<Limits>,
    /// Landlock rules.
    pub landlock: Option<LandlockSpec>,
    /// Install the seccomp filter (`Some(deny_inet)`).
    pub seccomp: Option<bool>,
    /// Print `landlock-abi=N` on standard output before exec (the probe).
    pub report: bool,
}

impl LauncherSpec {
    /// The launcher's arguments, followed by `--` and `program`.
    pub fn to_args(&self, program: &[OsString]) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut flag = |name: &str, value: Option<OsString>| {
            args.push(name.into());
            args.extend(value);
        };
        if let Some(dir) = &self.cgroup {
            flag("--cgroup", Some(dir.into()));
        }
        if let Some(l) = &self.limits {
            flag("--memory-mib", Some(l.memory_mib.to_string().into()));
            flag("--processes", Some(l.processes.to_string().into()));
            flag("--cpu-s", Some(l.cpu_s.to_string().into()));
            flag("--file-mib", Some(l.file_mib.to_string().into()));
        }
        if let Some(l) = &self.landlock {
            flag("--landlock-min-abi", Some(l.min_abi.to_string().into()));
            for p in &l.read_only {
                flag("--ro", Some(p.into()));
            }
            for p in &l.read_write {
                flag("--rw", Some(p.into()));
            }
            if l.deny_tcp {
                flag("--deny-tcp", None);
            }
            if l.scope {
                flag("--scope", None);
            }
        }
        match self.seccomp {
            Some(true) => flag("--seccomp-deny-inet", None),
            Some(false) => flag("--seccomp", None),
            None => {}
        }
        if self.report {
            flag("--report", None);
        }
        args.push("--".into());
        args.extend(program.iter().cloned());
        args
    }

    /// Reads [`to_args`](Self::to_args) back: the spec and the program.
    pub fn parse(args: &[OsString]) -> Result<(Self, Vec<OsString>), String> {
        let mut spec = Self::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let name = arg.to_string_lossy().into_owned();
            let mut value = || it.next().cloned().ok_or(format!("{name} needs a value"));
            match name.as_str() {
                "--" => {
                    let program: Vec<OsString> = it.cloned().collect();
                    if program.is_empty() {
                        return Err("no program after --".to_owned());
                    }
                    return Ok((spec, program));
                }
                "--cgroup" => spec.cgroup = Some(value()?.into()),
                "--memory-mib" => limits(&mut spec).memory_mib = number(&name, value()?)?,
                "--processes" => limits(&mut spec).processes = number(&name, value()?)?,
                "--cpu-s" => limits(&mut spec).cpu_s = number(&name, value()?)?,
                "--file-mib" => limits(&mut spec).file_mib = number(&name, value()?)?,
                "--landlock-min-abi" => landlock(&mut spec).min_abi = number(&name, value()?)?,
                "--ro" => landlock(&mut spec).read_only.push(value()?.into()),
                "--rw" => landlock(&mut spec).read_write.push(value()?.into()),
                "--deny-tcp" => landlock(&mut spec).deny_tcp = true,
                "--scope" => landlock(&mut spec).scope = true,
                "--seccomp" => spec.seccomp = Some(false),
                "--seccomp-deny-inet" => spec.seccomp = Some(true),
                "--report" => spec.report = true,
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Err("no -- before the program".to_owned())
    }
}

fn number<T: std::str::FromStr>(name: &str, raw: OsString) -> Result<T, String> {
    raw.to_string_lossy()
        .parse()
        .map_err(|_| format!("{name}: not a number"))
}

fn limits(spec: &mut LauncherSpec) -> &mut Limits {
    spec.limits.get_or_insert_with(Limits::default)
}

fn landlock(spec: &mut LauncherSpec) -> &mut LandlockSpec {
    spec.landlock.get_or_insert_with(LandlockSpec::default)
}

/// The launcher's `main`: applies `args`' spec, then execs the program.
pub fn main(args: &[OsString]) -> ExitCode {
    let failed = |what: String| {
        eprintln!("agent-runner-sandbox: {what}");
        ExitCode::from(FAILED)
    };
    let (spec, program) = match LauncherSpec::parse(args) {
        Ok(parsed) => parsed,
        Err(e) => return failed(e),
    };
    if let Some(dir) = &spec.cgroup
        && let Err(e) = cgroup::join(dir)
    {
        return failed(format!("could not join the cgroup {}: {e}", dir.display()));
    }
    if let Some(limits) = &spec.limits
        && let Err(e) = limits.apply()
    {
        return failed(format!("could not set the resource limits: {e}"));
    }
    let mut abi = 0;
    if let Some(landlock) = &spec.landlock {
        match landlock.apply() {
            Ok(enforced) => abi = enforced.abi,
            Err(e) => return failed(e.to_string()),
        }
    }
    if spec.report {
        println!("landlock-abi={abi}");
    }
    if let Some(deny_inet) = spec.seccomp
        && let Err(e) = seccomp::install(deny_inet)
    {
        return failed(e.to_string());
    }
    let err = std::process::Command::new(&program[0])
        .args(&program[1..])
        .exec();
    failed(format!(
        "could not run {}: {err}",
        program[0].to_string_lossy()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_survives_its_arguments() {
        let spec = LauncherSpec {
            cgroup: Some("/sys/fs/cgroup/pids/x".into()),
            limits: Some(Limits::default()),
            landlock: Some(LandlockSpec {
                read_write: vec!["/w".into()],
                read_only: vec!["/usr".into(), "/etc".into()],
                deny_tcp: true,
                scope: true,
                min_abi: 6,
            }),
            seccomp: Some(true),
            report: true,
        };
        let program = vec![OsString::from("sh"), "-c".into(), "-- x".into()];
        let (back, prog) = LauncherSpec::parse(&spec.to_args(&program)).expect("parses");
        assert_eq!(back, spec);
        assert_eq!(prog, program);
        let bare = LauncherSpec::default();
        let (back, _) = LauncherSpec::parse(&bare.to_args(&program)).expect("parses");
        assert_eq!(back, bare);
    }
}
