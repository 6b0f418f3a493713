//! What a client may name as a project's repository ([`RepoUrl`]) and as a
//! branch ([`check_branch_name`]). Both reach `git` on a worker, so both are
//! untrusted input: the api refuses a bad value with a 422, and the worker
//! checks again before any git command (a row may predate these rules).
//!
//! The URL rule is an allow-list of forms whose meaning git and ssh agree
//! on, never a list of known-bad strings:
//!
//! - `https://host[:port]/path` and `ssh://[user@]host[:port]/path`,
//!   `git://host[:port]/path`;
//! - scp-style `[user@]host:path`;
//! - with [`RepoPolicy::allow_local`] only: `file:///abs/path`, `/abs/path`
//!   and `http://…` (plain http sends credentials and code in the clear, and
//!   is what local test servers speak).
//!
//! Everything else is refused: `<transport>::…` (`ext::`, `fd::`), other
//! schemes, relative paths, a leading `-` in the URL, its user or its host
//! (git would read it as an option, ssh as `-oProxyCommand=…`), `%`-escapes
//! in the host, and whitespace or control characters anywhere. This module
//! does no I/O.

use std::fmt;
use std::path::Path;

/// Longest repository URL accepted, in bytes.
pub const REPO_URL_MAX_BYTES: usize = 2048;
/// Longest branch name accepted, in bytes.
pub const BRANCH_NAME_MAX_BYTES: usize = 255;

/// Which repository forms the operator allows beyond the network ones
/// (`AGENT_ALLOW_LOCAL_REPOS`, the same on the api and the workers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepoPolicy {
    /// Allow `file://` URLs, absolute paths and plain `http://`.
    pub allow_local: bool,
}

/// A repository URL that passed the rules of this module.
#[derive(Clone, PartialEq, Eq)]
pub struct RepoUrl {
    raw: String,
    kind: RepoKind,
}

/// The form of a [`RepoUrl`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoKind {
    /// `https://`, `http://`, `ssh://`, `git://` or scp-style.
    Network,
    /// `file://` or an absolute path on the worker's machine.
    Local,
}

/// Why a repository URL is refused. The messages never quote the URL (it
/// may carry a credential).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoUrlError {
    /// Nothing given.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`REPO_URL_MAX_BYTES`].
    #[error("must be at most {REPO_URL_MAX_BYTES} bytes")]
    TooLong,
    /// Whitespace or a control character (NUL, newline, …).
    #[error("must not contain whitespace or control characters")]
    ControlOrSpace,
    /// Starts with `-`: git would take it as an option.
    #[error("must not start with `-`")]
    LeadingDash,
    /// A `<transport>::<address>` form (`ext::`, `fd::`, …).
    #[error("`<transport>::` forms (such as ext:: and fd::) are not allowed")]
    Transport,
    /// `file://`, a path or `http://` while local repositories are off.
    #[error(
        "local repositories (file:// URLs and paths) and plain http:// are not allowed on this \
         deployment (AGENT_ALLOW_LOCAL_REPOS)"
    )]
    LocalNotAllowed,
    /// A relative path: it would depend on the worker's directory.
    #[error("a local repository must be an absolute path")]
    RelativePath,
    /// The host part is missing or not a host name / address.
    #[error("the host must be a name or address, not starting with `-`")]
    BadHost,
    /// The user part starts with `-` or holds a control character.
    #[error("the user part must not start with `-`")]
    BadUser,
    /// No repository path after the host.
    #[error("must name a repository path after the host")]
    NoPath,
    /// Not one of the allowed forms.
    #[error("must be an https://, ssh://, git:// or user@host:path URL")]
    Unsupported,
}

impl RepoUrl {
    /// Checks `raw` against the rules of this module under `policy`.
    pub fn parse(raw: &str, policy: RepoPolicy) -> Result<Self, RepoUrlError> {
        let kind = classify(raw, policy)?;
        Ok(RepoUrl {
            raw: raw.to_owned(),
            kind,
        })
    }

    /// The URL as given (it may hold a credential: never log it as is).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Its form.
    pub fn kind(&self) -> RepoKind {
        self.kind
    }

    /// The path on this machine, for a local repository.
    pub fn local_path(&self) -> Option<&Path> {
        match self.kind {
            RepoKind::Local => Some(Path::new(
                self.raw.strip_prefix("file://").unwrap_or(&self.raw),
            )),
            RepoKind::Network => None,
        }
    }
}

impl fmt::Debug for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A credential in the URL stays out of logs.
        let shown = match self.raw.split_once("://") {
            Some((scheme, rest)) => match rest.split('/').next().and_then(|a| a.rfind('@')) {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => self.raw.clone(),
            },
            None => self.raw.clone(),
        };
        f.debug_tuple("RepoUrl").field(&shown).finish()
    }
}

fn classify(raw: &str, policy: RepoPolicy) -> Result<RepoKind, RepoUrlError> {
    if raw.is_empty() {
        return Err(RepoUrlError::Empty);
    }
    if raw.len() > REPO_URL_MAX_BYTES {
        return Err(RepoUrlError::TooLong);
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(RepoUrlError::ControlOrSpace);
    }
    if raw.starts_with('-') {
        return Err(RepoUrlError::LeadingDash);
    }
    // git reads `<transport>::<address>` as a remote helper wherever the
    // transport name is made of these characters.
    if let Some((transport, _)) = raw.split_once("::")
        && !transport.is_empty()
        && transport
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
    {
        return Err(RepoUrlError::Transport);
    }
    if let Some((scheme, rest)) = raw.split_once("://") {
        return match scheme {
            "https" | "ssh" | "git" => network_url(rest),
            "http" if policy.allow_local => network_url(rest),
            "http" => Err(RepoUrlError::LocalNotAllowed),
            "file" => local_path(rest, policy),
            _ => Err(RepoUrlError::Unsupported),
        };
    }
    if raw.starts_with('/') {
        return local_path(raw, policy);
    }
    // scp-style: a `:` before any `/`.
    match raw.split_once(':') {
        Some((authority, path)) if !authority.contains('/') => {
            let host = user_and_host(authority)?;
            if host.contains(':') || host.starts_with('[') {
                return Err(RepoUrlError::BadHost);
            }
            if path.is_empty() || path.starts_with(':') {
                return Err(RepoUrlError::NoPath);
            }
            if path.starts_with('-') {
                return Err(RepoUrlError::LeadingDash);
            }
            Ok(RepoKind::Network)
        }
        _ if policy.allow_local => Err(RepoUrlError::RelativePath),
        _ => Err(RepoUrlError::Unsupported),
    }
}

/// `authority/path` of a `scheme://` URL.
fn network_url(rest: &str) -> Result<RepoKind, RepoUrlError> {
    let (authority, path) = rest.split_once('/').ok_or(RepoUrlError::NoPath)?;
    let host_port = user_and_host(authority)?;
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
            if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
                return Err(RepoUrlError::BadHost);
            }
            host
        }
        _ => host_port,
    };
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(RepoUrlError::BadHost);
    }
    if path.trim_matches('/').is_empty() {
        return Err(RepoUrlError::NoPath);
    }
    Ok(RepoKind::Network)
}

/// Checks `[user@]host[:port]` and returns `host[:port]`.
fn user_and_host(authority: &str) -> Result<&str, RepoUrlError> {
    let (user, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    if let Some(user) = user {
        // git percent-decodes URLs before it hands the user to ssh.
        let decoded = percent_decode(user);
        if decoded.is_empty()
            || decoded.starts_with('-')
            || decoded.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(RepoUrlError::BadUser);
        }
    }
    let name = host.split(':').next().unwrap_or_default();
    let bracketed = host.starts_with('[');
    let name_ok = if bracketed {
        host.find(']').is_some_and(|end| {
            host[1..end]
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'))
                && end > 1
        })
    } else {
        !name.is_empty()
            && !name.starts_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    if name_ok {
        Ok(host)
    } else {
        Err(RepoUrlError::BadHost)
    }
}

fn local_path(path: &str, policy: RepoPolicy) -> Result<RepoKind, RepoUrlError> {
    if !policy.allow_local {
        return Err(RepoUrlError::LocalNotAllowed);
    }
    if !path.starts_with('/') {
        return Err(RepoUrlError::RelativePath);
    }
    Ok(RepoKind::Local)
}

/// `%XX` escapes decoded (invalid ones kept as they are), lossily as UTF-8.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Why a branch name is refused: the rules of `git check-ref-format
/// --branch`, plus a length cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BranchNameError {
    /// Nothing given.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`BRANCH_NAME_MAX_BYTES`].
    #[error("must be at most {BRANCH_NAME_MAX_BYTES} bytes")]
    TooLong,
    /// Starts with `-`: git would take it as an option.
    #[error("must not start with `-`")]
    LeadingDash,
    /// A character git refuses in a ref name.
    #[error("must not contain whitespace, control characters or any of ~ ^ : ? * [ \\")]
    BadCharacter,
    /// `..`, `@{`, `//`, or a component starting with `.` or ending `.lock`.
    #[error(
        "must not contain `..`, `@{{` or `//`, nor a part that starts with `.` or ends with `.lock`"
    )]
    BadSequence,
    /// Starts or ends with `/`, ends with `.`, or is `@` or `HEAD`.
    #[error("must not start or end with `/`, end with `.`, or be `@` or `HEAD`")]
    BadShape,
}

/// Checks a branch name (without `refs/heads/`) a client gives: the
/// project's `default_branch`, an approval's `merge_into`.
pub fn check_branch_name(name: &str) -> Result<(), BranchNameError> {
    if name.is_empty() {
        return Err(BranchNameError::Empty);
    }
    if name.len() > BRANCH_NAME_MAX_BYTES {
        return Err(BranchNameError::TooLong);
    }
    if name.starts_with('-') {
        return Err(BranchNameError::LeadingDash);
    }
    if name.chars().any(|c| {
        c.is_control() || c.is_whitespace() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    }) {
        return Err(BranchNameError::BadCharacter);
    }
    if name == "@" || name == "HEAD" || name.starts_with('/') || name.ends_with('/') {
        return Err(BranchNameError::BadShape);
    }
    if name.ends_with('.') {
        return Err(BranchNameError::BadShape);
    }
    if name.contains("..")
        || name.contains("@{")
        || name
            .split('/')
            .any(|part| part.is_empty() || part.starts_with('.') || part.ends_with(".lock"))
    {
        return Err(BranchNameError::BadSequence);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETWORK: RepoPolicy = RepoPolicy { allow_local: false };
    const LOCAL: RepoPolicy = RepoPolicy { allow_local: true };

    #[test]
    fn network_urls_of_the_allowed_forms_are_accepted() {
        for url in [
            "https://github.com/acme/app.git",
            "https://x-access-token:ghp_abc@github.com/acme/app",
            "https://git.example.com:8443/group/sub/app.git",
            "https://[::1]:8443/app.git",
            "ssh://git@github.com/acme/app.git",
            "ssh://git@host:2222/~/app.git",
            "git://127.0.0.1:9418/app.git",
            "git@github.com:acme/app.git",
            "github.com:acme/app.git",
            "deploy_user@10.0.0.5:/srv/git/app.git",
        ] {
            assert_eq!(
                RepoUrl::parse(url, NETWORK).map(|u| u.kind()),
                Ok(RepoKind::Network),
                "{url}"
            );
        }
    }

    #[test]
    fn injections_and_other_forms_are_refused_whatever_the_policy() {
        use RepoUrlError::*;
        for (url, why) in [
            ("", Empty),
            ("--upload-pack=touch /tmp/x", ControlOrSpace),
            ("--upload-pack=touch${IFS}/tmp/x", LeadingDash),
            ("-uhttps://h/x", LeadingDash),
            ("--receive-pack=sh", LeadingDash),
            ("-c", LeadingDash),
            ("--config=core.sshCommand=sh", LeadingDash),
            ("ext::sh -c touch% /tmp/x", ControlOrSpace),
            ("ext::sh", Transport),
            ("fd::3", Transport),
            ("fd::3,4", Transport),
            ("remote-x::https://h/r", Transport),
            ("ssh://-oProxyCommand=touch%20/tmp/x/", BadHost),
            ("ssh://-oProxyCommand=sh/r", BadHost),
            ("ssh://%2DoProxyCommand=sh@host/r", BadUser),
            ("ssh://-oProxyCommand=sh@host/r", BadUser),
            ("ssh://host%2D/r", BadHost),
            ("-oProxyCommand=sh:x", LeadingDash),
            ("git@-oProxyCommand=sh:x", BadHost),
            ("host:-x", LeadingDash),
            ("https://github.com", NoPath),
            ("https://github.com/", NoPath),
            ("https://h:x/r", BadHost),
            ("https://h/r\0", ControlOrSpace),
            ("https://h/r\n--upload-pack=x", ControlOrSpace),
            ("https://h/a b", ControlOrSpace),
            ("ftp://h/r", Unsupported),
            ("file://relative", RelativePath),
            ("relative/path", RelativePath),
        ] {
            let policy = if why == RelativePath { LOCAL } else { NETWORK };
            assert_eq!(RepoUrl::parse(url, policy), Err(why.clone()), "{url:?}");
            if why != RelativePath {
                assert!(RepoUrl::parse(url, LOCAL).is_err(), "{url:?} with local");
            }
        }
        assert!(RepoUrl::parse(&format!("https://h/{}", "a".repeat(3000)), LOCAL).is_err());
    }

    #[test]
    fn local_repositories_and_plain_http_need_the_operator_switch() {
        for url in ["file:///etc", "/etc", "/srv/repo.git", "http://127.0.0.1/r"] {
            assert_eq!(
                RepoUrl::parse(url, NETWORK),
                Err(RepoUrlError::LocalNotAllowed),
                "{url}"
            );
            assert!(RepoUrl::parse(url, LOCAL).is_ok(), "{url}");
        }
        let local = RepoUrl::parse("file:///srv/repo", LOCAL).expect("local");
        assert_eq!(local.local_path(), Some(Path::new("/srv/repo")));
        assert_eq!(
            RepoUrl::parse("/srv/repo", LOCAL).expect("path").kind(),
            RepoKind::Local
        );
    }

    #[test]
    fn credentials_stay_out_of_the_debug_form() {
        let url = RepoUrl::parse("https://u:secret@h/r", NETWORK).expect("url");
        assert!(!format!("{url:?}").contains("secret"));
    }

    #[test]
    fn branch_names_follow_check_ref_format() {
        for ok in ["main", "release/1.2", "feature/x_y-z", "v1.0.x", "a@b"] {
            assert_eq!(check_branch_name(ok), Ok(()), "{ok}");
        }
        let long = "a".repeat(5000);
        for bad in [
            "",
            "--orphan",
            "-b",
            "a..b",
            "a b",
            "a\0b",
            "a\tb",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[b",
            "a\\b",
            "a@{1}",
            "@",
            "HEAD",
            "/main",
            "main/",
            "a//b",
            "main.",
            ".hidden",
            "a/.b",
            "main.lock",
            "a.lock/b",
            long.as_str(),
        ] {
            assert!(check_branch_name(bad).is_err(), "{bad:?}");
        }
    }
}
