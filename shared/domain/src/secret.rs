//! Which values are secrets, and how they are answered: masked.
//!
//! Secrets are write-only. A client may set them (a run's `params.api_key`,
//! a password in a project's `repo_url`, a project setting named like a
//! credential); they are stored as given and handed to the worker that needs
//! them, but every answer of the api shows [`MASK`] in their place.
//!
//! A JSON field is a secret when the last word of its name is `key`,
//! `token`, `password`, `passwd`, `secret` or `credentials` (`api_key`,
//! `access_token`, `githubToken`, `client-secret`), in any case and whatever
//! the separator; `max_tokens` or `token_budget_daily` are not. In a URL,
//! the password of its user information is a secret, and so is a user name
//! without a password over http(s), where it is how tokens are usually given
//! (`https://<token>@host/repo.git`); ssh's and scp-style user names (`git@`)
//! are kept.

use serde::{Serialize, Serializer};
use serde_json::Value;

/// What a secret is answered as.
pub const MASK: &str = "***";

/// Words that, ending a field's name, make the field a secret.
const SECRET_WORDS: &[&str] = &[
    "key",
    "apikey",
    "token",
    "password",
    "passwd",
    "secret",
    "credentials",
];

/// Whether a JSON field called `name` holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let last = last_word(name);
    SECRET_WORDS.iter().any(|w| last.eq_ignore_ascii_case(w))
}

/// The last word of `snake_case`, `kebab-case`, `dotted.name` or
/// `camelCase` names.
fn last_word(name: &str) -> &str {
    let tail = name.rsplit(['_', '-', '.', ' ']).next().unwrap_or(name);
    if !tail.chars().any(|c| c.is_ascii_lowercase()) {
        return tail;
    }
    match tail
        .char_indices()
        .rev()
        .find(|&(i, c)| i > 0 && c.is_ascii_uppercase())
    {
        Some((i, _)) => &tail[i..],
        None => tail,
    }
}

/// `value` with every secret field (at any depth) replaced by [`MASK`];
/// `null` stays `null`, so that "not set" is still told apart from "set".
pub fn mask_json(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, item)| {
                    let shown = if is_secret_name(name) && !item.is_null() {
                        Value::String(MASK.to_owned())
                    } else {
                        mask_json(item)
                    };
                    (name.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask_json).collect()),
        other => other.clone(),
    }
}

/// `url` with the secret part of its user information replaced by [`MASK`]:
/// `https://u:pw@h/r` → `https://u:***@h/r`, `https://tok@h/r` →
/// `https://***@h/r`, `ssh://git@h/r` unchanged.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let shown = match user_info.split_once(':') {
        Some((user, _password)) => format!("{user}:{MASK}"),
        None if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {
            MASK.to_owned()
        }
        None => user_info.to_owned(),
    };
    format!("{scheme}://{shown}@{host}{path}")
}

/// Whether `url` as a client sent it is the masked form of `stored`: a
/// client that read a project and sends its `repo_url` back unchanged keeps
/// the stored credentials.
pub fn is_masked_form_of(url: &str, stored: &str) -> bool {
    url.contains(MASK) && url != stored && mask_url(stored) == url
}

/// Serialises a JSON value masked (for `#[serde(serialize_with)]`).
pub fn serialize_masked_json<S: Serializer>(value: &Value, s: S) -> Result<S::Ok, S::Error> {
    mask_json(value).serialize(s)
}

/// Serialises an optional URL masked (for `#[serde(serialize_with)]`).
pub fn serialize_masked_url<S: Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => s.serialize_some(&mask_url(url)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_named_like_credentials_are_secrets() {
        for name in [
            "api_key",
            "key",
            "access_token",
            "githubToken",
            "client-secret",
            "DB_PASSWORD",
            "aws.credentials",
            "openaiApiKey",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "max_tokens",
            "token_budget_daily",
            "keys_seen",
            "require_approval",
            "monkey",
            "base_url",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn secret_fields_are_masked_at_any_depth_and_null_stays_null() {
        let value = json!({
            "api_key": "sk-1", "max_tokens": 10, "unset_token": null,
            "nested": {"password": 5, "list": [{"token": "t"}]}
        });
        assert_eq!(
            mask_json(&value),
            json!({
                "api_key": "***", "max_tokens": 10, "unset_token": null,
                "nested": {"password": "***", "list": [{"token": "***"}]}
            })
        );
    }

    #[test]
    fn credentials_in_urls_are_masked() {
        let cases = [
            ("https://u:pw@h/r.git", "https://u:***@h/r.git"),
            ("https://ghp_x@github.com/o/r", "https://***@github.com/o/r"),
            ("ssh://git@h:22/r.git", "ssh://git@h:22/r.git"),
            ("ssh://u:pw@h/r.git", "ssh://u:***@h/r.git"),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
            ("https://h/r.git", "https://h/r.git"),
            ("https://h/a@b", "https://h/a@b"),
            ("/srv/repo", "/srv/repo"),
        ];
        for (url, shown) in cases {
            assert_eq!(mask_url(url), shown, "{url}");
        }
        assert!(is_masked_form_of("https://u:***@h/r", "https://u:pw@h/r"));
        assert!(!is_masked_form_of(
            "https://u:***@h/other",
            "https://u:pw@h/r"
        ));
        assert!(!is_masked_form_of("https://h/r", "https://h/r"));
    }
}
