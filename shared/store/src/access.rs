//! Who may do what: a token's [`Role`] and the projects it is scoped to.
//!
//! Roles are ordered, each allowing everything the one before it does:
//! a viewer reads, a runner also submits, cancels, retries and sends
//! follow-ups, a reviewer also approves and rejects, an admin does
//! everything (projects, exec, another model endpoint). A [`Scope`] is
//! passed to the queries that read runs and projects, so that a token
//! scoped to projects is filtered in SQL and never sees another project's
//! rows. This module decides nothing about HTTP; the api maps [`Forbidden`]
//! to a 403 and an empty scoped read to a 404.

use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// What a token may do, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads runs, their timelines, diffs and requests, projects and workers.
    Viewer,
    /// Also submits runs, cancels, retries and sends follow-up messages.
    Runner,
    /// Also approves and rejects runs awaiting approval.
    Reviewer,
    /// Everything: creates and changes projects, exec, `params.base_url`.
    Admin,
}

impl Role {
    /// Every role, from least to most.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Runner, Role::Reviewer, Role::Admin];

    /// The name stored in `api_tokens.role` and shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Runner => "runner",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}`; expected viewer, runner, reviewer or admin")]
pub struct UnknownRole(String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A token's role is below what an action needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this action needs the {needs} role; this token has the {has} role")]
pub struct Forbidden {
    /// The least role the action needs.
    pub needs: Role,
    /// The token's role.
    pub has: Role,
}

/// The projects a token may see: every project, or only those listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope<'a>(Option<&'a [Uuid]>);

impl<'a> Scope<'a> {
    /// Every project (an unscoped token, or the system itself).
    pub const ALL: Scope<'static> = Scope(None);

    /// Only these projects.
    pub fn projects(ids: &'a [Uuid]) -> Self {
        Scope(Some(ids))
    }

    /// True unless the scope lists projects.
    pub fn is_all(self) -> bool {
        self.0.is_none()
    }

    /// Whether runs of `project_id` are visible.
    pub fn contains(self, project_id: Uuid) -> bool {
        self.0.is_none_or(|ids| ids.contains(&project_id))
    }

    /// The query parameter of a `($n::uuid[] IS NULL OR project_id = ANY($n))`
    /// condition.
    pub(crate) fn param(self) -> Option<&'a [Uuid]> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_round_trip_through_their_names() {
        assert!(Role::Viewer < Role::Runner && Role::Runner < Role::Reviewer);
        assert!(Role::Reviewer < Role::Admin);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn a_scope_contains_only_its_projects() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let only_a = [a];
        assert!(Scope::projects(&only_a).contains(a));
        assert!(!Scope::projects(&only_a).contains(b));
        assert!(Scope::ALL.contains(b));
    }
}
