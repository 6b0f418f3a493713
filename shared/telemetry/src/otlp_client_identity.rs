//! `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `OTEL_EXPORTER_OTLP_CLIENT_KEY`:
//! the certificate (PEM, its chain may follow) and private key (PEM: PKCS#8,
//! PKCS#1 or SEC1) the exporter presents to an `https://` collector that
//! asks for one (mutual TLS). Both or neither; read and checked at start-up,
//! so a wrong path or a key that is not PEM stops the process naming the
//! variable instead of failing every export later. The key is never shown.

use agent_runner_config::{ConfigError, Env};
use std::fmt;
use std::path::PathBuf;

/// The variable naming the certificate file.
pub const CLIENT_CERTIFICATE_VAR: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
/// The variable naming the private key file.
pub const CLIENT_KEY_VAR: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";

/// A client certificate and its key, read from the two variables.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    certificate_path: PathBuf,
    certificate_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificate_path", &self.certificate_path)
            .finish_non_exhaustive()
    }
}

impl ClientIdentity {
    /// Reads the variables: `None` when both are unset or empty; an error
    /// naming the variable when only one is set, or its file can not be read
    /// or holds no certificate / no private key.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let path = |var| env.raw(var).map(|value| PathBuf::from(value.trim()));
        match (path(CLIENT_CERTIFICATE_VAR), path(CLIENT_KEY_VAR)) {
            (None, None) => Ok(None),
            (Some(certificate), Some(key)) => Self::read(certificate, key).map(Some),
            (Some(_), None) => Err(missing_pair(CLIENT_KEY_VAR, CLIENT_CERTIFICATE_VAR)),
            (None, Some(_)) => Err(missing_pair(CLIENT_CERTIFICATE_VAR, CLIENT_KEY_VAR)),
        }
    }

    /// Reads and checks a certificate file and a key file.
    pub fn read(certificate_path: PathBuf, key_path: PathBuf) -> Result<Self, ConfigError> {
        let certificate_pem = read_file(CLIENT_CERTIFICATE_VAR, &certificate_path)?;
        let key_pem = read_file(CLIENT_KEY_VAR, &key_path)?;
        let certificates = reqwest::Certificate::from_pem_bundle(&certificate_pem)
            .map_err(|e| e.to_string())
            .and_then(|bundle| {
                if bundle.is_empty() {
                    Err("it holds no PEM certificate".to_owned())
                } else {
                    Ok(())
                }
            });
        if let Err(problem) = certificates {
            return Err(ConfigError {
                var: CLIENT_CERTIFICATE_VAR.to_owned(),
                message: format!(
                    "`{}` is not a PEM certificate file: {problem}",
                    certificate_path.display()
                ),
            });
        }
        let identity = Self {
            certificate_path,
            certificate_pem,
            key_pem,
        };
        // The certificate is known good: what fails here is the key.
        identity.reqwest().map_err(|e| ConfigError {
            var: CLIENT_KEY_VAR.to_owned(),
            message: format!(
                "`{}` is not a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
                key_path.display()
            ),
        })?;
        Ok(identity)
    }

    /// The certificate PEM text.
    pub fn certificate_pem(&self) -> &[u8] {
        &self.certificate_pem
    }

    /// The private key PEM text.
    pub fn key_pem(&self) -> &[u8] {
        &self.key_pem
    }

    /// The identity for the HTTP client.
    pub(crate) fn reqwest(&self) -> reqwest::Result<reqwest::Identity> {
        let mut pem = self.key_pem.clone();
        pem.push(b'\n');
        pem.extend_from_slice(&self.certificate_pem);
        reqwest::Identity::from_pem(&pem)
    }
}

fn read_file(var: &str, path: &PathBuf) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError {
        var: var.to_owned(),
        message: format!("cannot read `{}`: {e}", path.display()),
    })
}

fn missing_pair(missing: &str, set: &str) -> ConfigError {
    ConfigError {
        var: missing.to_owned(),
        message: format!("must be set too when {set} is (a client certificate needs its key)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and its key, written to `dir`.
    fn write_pair(dir: &tempfile::TempDir) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().expect("key");
        let certificate = rcgen::CertificateParams::new(vec!["exporter".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let certificate_path = dir.path().join("client.pem");
        let key_path = dir.path().join("client-key.pem");
        std::fs::write(&certificate_path, certificate.pem()).expect("write certificate");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        (certificate_path, key_path)
    }

    #[test]
    fn unset_or_empty_presents_no_certificate() {
        let env = Env::from_map([(CLIENT_CERTIFICATE_VAR, ""), (CLIENT_KEY_VAR, " ")]);
        assert_eq!(ClientIdentity::from_env(&env).expect("config"), None);
    }

    #[test]
    fn a_certificate_and_its_key_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (certificate, key) = write_pair(&dir);
        let env = Env::from_map([
            (CLIENT_CERTIFICATE_VAR, certificate.to_str().expect("utf-8")),
            (CLIENT_KEY_VAR, key.to_str().expect("utf-8")),
        ]);
        let identity = ClientIdentity::from_env(&env)
            .expect("config")
            .expect("an identity");
        assert_eq!(
            identity.key_pem(),
            std::fs::read(&key).expect("key").as_slice()
        );
        assert!(
            !format!("{identity:?}").contains("PRIVATE KEY"),
            "the key is never shown"
        );
    }

    #[test]
    fn one_without_the_other_names_the_missing_variable() {
        let env = Env::from_map([(CLIENT_CERTIFICATE_VAR, "/etc/otlp/client.pem")]);
        let err = ClientIdentity::from_env(&env).expect_err("no key");
        assert_eq!(err.var, CLIENT_KEY_VAR);
        let env = Env::from_map([(CLIENT_KEY_VAR, "/etc/otlp/client-key.pem")]);
        let err = ClientIdentity::from_env(&env).expect_err("no certificate");
        assert_eq!(err.var, CLIENT_CERTIFICATE_VAR);
    }

    #[test]
    fn a_missing_file_names_its_variable_and_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (certificate, _) = write_pair(&dir);
        let err = ClientIdentity::read(certificate, "/nonexistent/key.pem".into())
            .expect_err("missing key");
        assert_eq!(err.var, CLIENT_KEY_VAR);
        assert!(err.message.contains("/nonexistent/key.pem"), "{err}");
    }

    #[test]
    fn files_that_are_not_what_they_should_be_are_refused_naming_the_variable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (certificate, key) = write_pair(&dir);
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not PEM\n").expect("write");

        let err = ClientIdentity::read(junk.clone(), key.clone()).expect_err("bad certificate");
        assert_eq!(err.var, CLIENT_CERTIFICATE_VAR);
        let err = ClientIdentity::read(certificate.clone(), junk).expect_err("bad key");
        assert_eq!(err.var, CLIENT_KEY_VAR);
        // A certificate where the key should be.
        let err = ClientIdentity::read(certificate.clone(), certificate).expect_err("swapped");
        assert_eq!(err.var, CLIENT_KEY_VAR);
        assert!(
            err.message.contains("not a PEM private key"),
            "{}",
            err.message
        );
    }
}
