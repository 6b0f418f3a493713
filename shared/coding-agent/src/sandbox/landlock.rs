//! The Landlock layer: the launcher restricts itself (and so the command it
//! execs) to reading the system and writing the worktree and its private
//! temporary directories, optionally refuses every TCP bind and connect,
//! and — from ABI 6 — scopes signals and abstract unix sockets to the
//! sandbox. Unprivileged; needs a kernel with Landlock enabled.

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, LandlockStatus, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};
use std::path::PathBuf;

/// The newest ABI whose rights this layer asks for.
const ASKED: ABI = ABI::V6;

/// What the launcher is asked to enforce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LandlockSpec {
    /// Read, write, create, delete, execute.
    pub read_write: Vec<PathBuf>,
    /// Read and execute.
    pub read_only: Vec<PathBuf>,
    /// Refuse TCP bind and connect to every port (ABI 4).
    pub deny_tcp: bool,
    /// Scope signals and abstract unix sockets to the sandbox (ABI 6).
    pub scope: bool,
    /// The launcher fails when the kernel's ABI is older.
    pub min_abi: i32,
}

/// What was enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enforced {
    /// The ABI the kernel offers (0: none).
    pub abi: i32,
    /// Whether everything asked for is enforced.
    pub fully: bool,
}

/// Landlock could not be applied as asked.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    /// The ruleset could not be built or enforced.
    #[error("landlock: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    /// The kernel's ABI is older than required.
    #[error("landlock: ABI {min} needed, the kernel has {abi}")]
    TooOld {
        /// What the kernel offers.
        abi: i32,
        /// What was required.
        min: i32,
    },
}

impl LandlockSpec {
    /// Restricts the calling thread (the launcher is single-threaded).
    pub fn apply(&self) -> Result<Enforced, LandlockError> {
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(ASKED))?;
        if self.deny_tcp {
            ruleset = ruleset.handle_access(AccessNet::from_all(ASKED))?;
        }
        if self.scope {
            ruleset = ruleset.scope(Scope::from_all(ASKED))?;
        }
        let existing = |paths: &[PathBuf]| -> Vec<PathBuf> {
            paths.iter().filter(|p| p.exists()).cloned().collect()
        };
        let status = ruleset
            .create()?
            .add_rules(path_beneath_rules(
                existing(&self.read_only),
                AccessFs::from_read(ASKED),
            ))?
            .add_rules(path_beneath_rules(
                existing(&self.read_write),
                AccessFs::from_all(ASKED),
            ))?
            .restrict_self()?;
        let abi = match status.landlock {
            LandlockStatus::Available { effective_abi, .. } => effective_abi as i32,
            _ => 0,
        };
        if abi < self.min_abi {
            return Err(LandlockError::TooOld {
                abi,
                min: self.min_abi,
            });
        }
        Ok(Enforced {
            abi,
            fully: status.ruleset == RulesetStatus::FullyEnforced,
        })
    }
}
