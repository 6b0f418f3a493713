//! `OTEL_EXPORTER_OTLP_CERTIFICATE`: a PEM file of CA certificates the
//! exporter trusts for an `https://` collector, besides the public roots it
//! always trusts (a private CA, or a collector's self-signed certificate).
//! Read and checked at start-up, so a wrong path stops the process naming
//! the variable instead of failing every export later.

use agent_runner_config::{ConfigError, Env};
use std::fmt;
use std::path::PathBuf;

/// The variable naming the file.
pub const CERTIFICATE_VAR: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";

/// CA certificates read from `OTEL_EXPORTER_OTLP_CERTIFICATE`.
#[derive(Clone, PartialEq, Eq)]
pub struct CaCertificate {
    path: PathBuf,
    pem: Vec<u8>,
}

impl fmt::Debug for CaCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaCertificate")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl CaCertificate {
    /// Reads the variable: `None` when unset or empty; an error naming the
    /// variable when the file can not be read or holds no PEM certificate.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        env.raw(CERTIFICATE_VAR)
            .map(|path| Self::read(PathBuf::from(path.trim())))
            .transpose()
    }

    /// Reads and checks a PEM file of certificates.
    pub fn read(path: PathBuf) -> Result<Self, ConfigError> {
        let problem = |message: String| ConfigError {
            var: CERTIFICATE_VAR.to_owned(),
            message,
        };
        let pem = std::fs::read(&path)
            .map_err(|e| problem(format!("cannot read `{}`: {e}", path.display())))?;
        let certificate = Self { path, pem };
        match reqwest::Certificate::from_pem_bundle(&certificate.pem) {
            Ok(bundle) if !bundle.is_empty() => Ok(certificate),
            Ok(_) => Err(problem(format!(
                "`{}` holds no PEM certificate",
                certificate.path.display()
            ))),
            Err(e) => Err(problem(format!(
                "`{}` is not a PEM certificate file: {e}",
                certificate.path.display()
            ))),
        }
    }

    /// The PEM text.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// The certificates, for the HTTP client.
    pub(crate) fn certificates(&self) -> Vec<reqwest::Certificate> {
        // Checked when read.
        reqwest::Certificate::from_pem_bundle(&self.pem).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_empty_trusts_only_the_public_roots() {
        let env = Env::from_map([(CERTIFICATE_VAR, " ")]);
        assert_eq!(CaCertificate::from_env(&env).expect("config"), None);
    }

    #[test]
    fn a_missing_file_names_the_variable_and_the_path() {
        let env = Env::from_map([(CERTIFICATE_VAR, "/nonexistent/ca.pem")]);
        let err = CaCertificate::from_env(&env).expect_err("missing file");
        assert_eq!(err.var, CERTIFICATE_VAR);
        assert!(
            err.message.contains("/nonexistent/ca.pem"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let err = CaCertificate::read(path).expect_err("no certificate");
        assert_eq!(err.var, CERTIFICATE_VAR);
        assert!(
            err.message.contains("no PEM certificate"),
            "{}",
            err.message
        );
    }
}
