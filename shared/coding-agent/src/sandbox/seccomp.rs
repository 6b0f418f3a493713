//! The seccomp layer: a filter the launcher installs on itself just before
//! it execs the command, refusing (EPERM) system calls builds and tests do
//! not need and that widen what a compromised command can reach: tracing
//! other processes, mounting, kernel modules and keyrings, BPF, kexec,
//! reboot, swap, perf events, userfaultfd, and new namespaces (`unshare`,
//! `setns`, `clone` with a `CLONE_NEW*` flag). `clone3`, whose flags a
//! filter can not read, answers ENOSYS so that libc falls back to `clone`.
//! With `deny_inet` (no network namespace, network closed) IPv4 and IPv6
//! sockets are refused too, which covers UDP where Landlock covers TCP only.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// The namespace flags `clone` may not carry.
const NEW_NAMESPACES: &[libc::c_int] = &[
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWNS,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWCGROUP,
];

/// System calls refused outright.
fn refused() -> Vec<libc::c_long> {
    let mut calls = vec![
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_keyctl,
        libc::SYS_bpf,
        libc::SYS_kexec_load,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_open_by_handle_at,
        libc::SYS_syslog,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([libc::SYS_kexec_file_load, libc::SYS_iopl, libc::SYS_ioperm]);
    calls
}

/// The filter could not be built or installed.
#[derive(Debug, thiserror::Error)]
#[error("seccomp: {0}")]
pub struct SeccompError(#[from] seccompiler::Error);

fn arch() -> Result<TargetArch, SeccompError> {
    Ok(std::env::consts::ARCH
        .try_into()
        .map_err(seccompiler::Error::Backend)?)
}

fn backend(e: seccompiler::BackendError) -> SeccompError {
    SeccompError(seccompiler::Error::Backend(e))
}

fn masked(arg: u8, mask: u64) -> Result<SeccompRule, seccompiler::Error> {
    let condition = SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(mask),
        mask,
    )?;
    Ok(SeccompRule::new(vec![condition])?)
}

fn equal(arg: u8, value: u64) -> Result<SeccompRule, seccompiler::Error> {
    let condition = SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)?;
    Ok(SeccompRule::new(vec![condition])?)
}

/// The compiled programs, in the order they are installed.
pub fn programs(deny_inet: bool) -> Result<Vec<BpfProgram>, SeccompError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        refused().into_iter().map(|call| (call, vec![])).collect();
    let clone_rules = NEW_NAMESPACES
        .iter()
        .map(|flag| masked(0, u64::from(flag.unsigned_abs())))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_clone, clone_rules);
    if deny_inet {
        let families = [libc::AF_INET, libc::AF_INET6]
            .iter()
            .map(|family| equal(0, u64::from(family.unsigned_abs())))
            .collect::<Result<Vec<_>, _>>()?;
        rules.insert(libc::SYS_socket, families);
    }
    let eperm = SeccompAction::Errno(libc::EPERM.unsigned_abs());
    let refuse =
        SeccompFilter::new(rules, SeccompAction::Allow, eperm, arch()?).map_err(backend)?;
    let no_clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, vec![])]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS.unsigned_abs()),
        arch()?,
    )
    .map_err(backend)?;
    Ok(vec![
        refuse.try_into().map_err(backend)?,
        no_clone3.try_into().map_err(backend)?,
    ])
}

/// Installs the filters on the calling thread (and what it execs). Sets
/// `no_new_privs`, which the kernel requires of an unprivileged filter.
pub fn install(deny_inet: bool) -> Result<(), SeccompError> {
    for program in programs(deny_inet)? {
        seccompiler::apply_filter(&program)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_compile_for_this_architecture() {
        let programs = programs(true).expect("compiles");
        assert_eq!(programs.len(), 2);
        assert!(programs[0].len() > refused().len());
    }
}
