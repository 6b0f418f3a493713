//! Reading typed settings from the environment.
//!
//! Each service has one config struct built from an [`Env`]; a missing or
//! malformed value stops start-up with a [`ConfigError`] naming the variable.
//! [`Env`] reads from a map in tests and from the process environment
//! otherwise, so config parsing is testable without touching global state.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

/// A setting that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: String,
    /// What is wrong with it.
    pub message: String,
}

/// A source of settings.
#[derive(Debug, Clone, Default)]
pub struct Env {
    overrides: Option<HashMap<String, String>>,
}

impl Env {
    /// Reads the process environment.
    pub fn process() -> Self {
        Self { overrides: None }
    }

    /// Reads only from `vars` (tests).
    pub fn from_map<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            overrides: Some(
                vars.into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The raw value of `var`, if set and not empty.
    pub fn raw(&self, var: &str) -> Option<String> {
        let value = match &self.overrides {
            Some(map) => map.get(var).cloned(),
            None => std::env::var(var).ok(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// `var` as a string, or `default`.
    pub fn string(&self, var: &str, default: &str) -> String {
        self.raw(var).unwrap_or_else(|| default.to_owned())
    }

    /// [`Env::string`], then `check` (which explains what is wrong).
    pub fn string_checked(
        &self,
        var: &str,
        default: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<String, ConfigError> {
        let value = self.string(var, default);
        check(&value).map_err(|message| ConfigError {
            var: var.to_owned(),
            message,
        })?;
        Ok(value)
    }

    /// `var` parsed as `T`, or `default`; a value that does not parse is an error.
    pub fn parse<T>(&self, var: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.raw(var) {
            None => Ok(default),
            Some(value) => value.trim().parse().map_err(|e: T::Err| ConfigError {
                var: var.to_owned(),
                message: format!("cannot parse `{value}`: {e}"),
            }),
        }
    }

    /// Like [`Env::parse`], and the value must lie in `min..=max`.
    pub fn parse_in<T>(&self, var: &str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display + Copy,
        T::Err: Display,
    {
        let value = self.parse(var, default)?;
        if value < min || value > max {
            return Err(ConfigError {
                var: var.to_owned(),
                message: format!("must be between {min} and {max}, got {value}"),
            });
        }
        Ok(value)
    }

    /// `var` as a URL with one of `schemes`, or `default`.
    pub fn url(&self, var: &str, default: &str, schemes: &[&str]) -> Result<String, ConfigError> {
        let value = self.string(var, default);
        let scheme = value.split("://").next().unwrap_or_default();
        if !value.contains("://") || !schemes.contains(&scheme) {
            return Err(ConfigError {
                var: var.to_owned(),
                message: format!("expected a URL starting with {}://", schemes.join("://, ")),
            });
        }
        Ok(value)
    }

    /// [`Env::url`], then `check` (which explains what is wrong).
    pub fn url_checked(
        &self,
        var: &str,
        default: &str,
        schemes: &[&str],
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<String, ConfigError> {
        let value = self.url(var, default, schemes)?;
        check(&value).map_err(|message| ConfigError {
            var: var.to_owned(),
            message,
        })?;
        Ok(value)
    }
}

/// This machine's (or pod's) host name, for connection names and worker ids.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_unset_or_blank() {
        let env = Env::from_map([("A", " ")]);
        assert_eq!(env.parse("A", 7u16), Ok(7));
        assert_eq!(env.string("B", "x"), "x");
    }

    #[test]
    fn a_malformed_value_names_its_variable() {
        let env = Env::from_map([("WORKER_CONCURRENCY", "many")]);
        let err = env
            .parse::<u16>("WORKER_CONCURRENCY", 8)
            .expect_err("must fail");
        assert_eq!(err.var, "WORKER_CONCURRENCY");
        assert!(
            err.to_string()
                .starts_with("WORKER_CONCURRENCY: cannot parse `many`")
        );
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let env = Env::from_map([("N", "0")]);
        assert!(env.parse_in("N", 8u16, 1, 100).is_err());
    }

    #[test]
    fn urls_must_have_an_accepted_scheme() {
        let env = Env::from_map([("AMQP_URL", "http://x")]);
        assert!(env.url("AMQP_URL", "amqp://h", &["amqp", "amqps"]).is_err());
        assert!(
            Env::from_map([("AMQP_URL", "amqp://h/v")])
                .url("AMQP_URL", "", &["amqp"])
                .is_ok()
        );
    }
}
