//! Where the broker is and how to trust it: `AMQP_URL` and, for an
//! `amqps://` URL, `AMQP_CA_FILE` (PEM CA certificates trusted besides the
//! public roots) and `AMQP_CLIENT_CERT_FILE` / `AMQP_CLIENT_KEY_FILE` (a
//! client certificate for brokers that ask for one). Read and checked at
//! start-up, so a wrong path or a file that is not PEM stops the process
//! naming the variable instead of failing every reconnect. The URL's password
//! and the key are never shown.

use agent_runner_config::{ConfigError, Env};
use agent_runner_domain::secret::mask_url;
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::Path;

/// The variable naming the broker.
pub const URL_VAR: &str = "AMQP_URL";
/// The variable naming the CA file.
pub const CA_FILE_VAR: &str = "AMQP_CA_FILE";
/// The variable naming the client certificate file.
pub const CLIENT_CERT_VAR: &str = "AMQP_CLIENT_CERT_FILE";
/// The variable naming the client key file.
pub const CLIENT_KEY_VAR: &str = "AMQP_CLIENT_KEY_FILE";

/// The URL used when `AMQP_URL` is unset: the local node of `scripts/up`.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A broker to connect to: its URL (the vhost is honoured) and, for
/// `amqps://`, what the connection trusts and presents.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    url: String,
    tls: bool,
    ca_pem: Option<String>,
    identity: Option<Identity>,
}

/// A client certificate (PEM, its chain may follow) and its private key.
#[derive(Clone, PartialEq, Eq)]
struct Identity {
    certificate_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl fmt::Debug for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerAddress")
            .field("url", &mask_url(&self.url))
            .field("ca_file", &self.ca_pem.is_some())
            .field("client_certificate", &self.identity.is_some())
            .finish()
    }
}

impl BrokerAddress {
    /// Reads the four variables; the error names the one at fault.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = env.url_checked(URL_VAR, DEFAULT_URL, &["amqp", "amqps"], check_amqp_url)?;
        let mut address = Self::plain(&url);
        let path = |var| env.raw(var).map(|value| value.trim().to_owned());
        let (ca, certificate, key) = (
            path(CA_FILE_VAR),
            path(CLIENT_CERT_VAR),
            path(CLIENT_KEY_VAR),
        );
        if !address.tls
            && let Some(var) = [(CA_FILE_VAR, &ca), (CLIENT_CERT_VAR, &certificate)]
                .into_iter()
                .find_map(|(var, value)| value.is_some().then_some(var))
        {
            return Err(problem(
                var,
                "is set, but AMQP_URL is amqp:// (no TLS): use amqps:// to connect over TLS"
                    .to_owned(),
            ));
        }
        if let Some(ca) = ca {
            address.ca_pem = Some(read_ca(Path::new(&ca))?);
        }
        address.identity = match (certificate, key) {
            (None, None) => None,
            (Some(certificate), Some(key)) => {
                Some(read_identity(Path::new(&certificate), Path::new(&key))?)
            }
            (Some(_), None) => return Err(missing_pair(CLIENT_KEY_VAR, CLIENT_CERT_VAR)),
            (None, Some(_)) => return Err(missing_pair(CLIENT_CERT_VAR, CLIENT_KEY_VAR)),
        };
        Ok(address)
    }

    /// `url` with nothing else: an `amqps://` one trusts the public roots
    /// only (test suites and tools that take a URL).
    pub fn plain(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            tls: url
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("amqps://")),
            ca_pem: None,
            identity: None,
        }
    }

    /// This address trusting the CA certificates in `pem` besides the public roots.
    pub fn with_ca_pem(mut self, pem: &str) -> Self {
        self.ca_pem = Some(pem.to_owned());
        self
    }

    /// This address presenting a client certificate and key (PEM).
    pub fn with_client_identity(mut self, certificate_pem: &str, key_pem: &str) -> Self {
        self.identity = Some(Identity {
            certificate_pem: certificate_pem.as_bytes().to_vec(),
            key_pem: key_pem.as_bytes().to_vec(),
        });
        self
    }

    /// The URL, password included: for the connection only, never for a log
    /// (the [`fmt::Debug`] form masks it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether connections use TLS (`amqps://`).
    pub fn uses_tls(&self) -> bool {
        self.tls
    }

    /// What lapin's TLS stack is given.
    pub(crate) fn tls_config(&self) -> OwnedTLSConfig {
        OwnedTLSConfig {
            identity: self.identity.as_ref().map(|identity| OwnedIdentity::PKCS8 {
                pem: identity.certificate_pem.clone(),
                key: identity.key_pem.clone(),
            }),
            cert_chain: self.ca_pem.clone(),
        }
    }
}

/// Checks an AMQP URL the way the connection will read it, so a bad one
/// stops start-up instead of failing every reconnect.
pub fn check_amqp_url(amqp_url: &str) -> Result<(), String> {
    let _uri: lapin::uri::AMQPUri = amqp_url.parse()?;
    Ok(())
}

fn read_ca(path: &Path) -> Result<String, ConfigError> {
    let pem = read_file(CA_FILE_VAR, path)?;
    let certificates = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>();
    match certificates {
        Ok(certificates) if !certificates.is_empty() => {
            String::from_utf8(pem).map_err(|_| not_pem(CA_FILE_VAR, path, "it is not text"))
        }
        Ok(_) => Err(not_pem(CA_FILE_VAR, path, "it holds no PEM certificate")),
        Err(e) => Err(not_pem(CA_FILE_VAR, path, &e.to_string())),
    }
}

fn read_identity(certificate: &Path, key: &Path) -> Result<Identity, ConfigError> {
    let certificate_pem = read_file(CLIENT_CERT_VAR, certificate)?;
    match CertificateDer::pem_slice_iter(&certificate_pem).collect::<Result<Vec<_>, _>>() {
        Ok(chain) if !chain.is_empty() => {}
        Ok(_) => {
            return Err(not_pem(
                CLIENT_CERT_VAR,
                certificate,
                "it holds no PEM certificate",
            ));
        }
        Err(e) => return Err(not_pem(CLIENT_CERT_VAR, certificate, &e.to_string())),
    }
    let key_pem = read_file(CLIENT_KEY_VAR, key)?;
    if let Err(e) = PrivateKeyDer::from_pem_slice(&key_pem) {
        return Err(problem(
            CLIENT_KEY_VAR,
            format!(
                "`{}` is not a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
                key.display()
            ),
        ));
    }
    Ok(Identity {
        certificate_pem,
        key_pem,
    })
}

fn read_file(var: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| problem(var, format!("cannot read `{}`: {e}", path.display())))
}

fn not_pem(var: &str, path: &Path, why: &str) -> ConfigError {
    problem(
        var,
        format!("`{}` is not a PEM certificate file: {why}", path.display()),
    )
}

fn missing_pair(missing: &str, set: &str) -> ConfigError {
    problem(
        missing,
        format!("must be set too when {set} is (a client certificate needs its key)"),
    )
}

fn problem(var: &str, message: String) -> ConfigError {
    ConfigError {
        var: var.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and its key, written to `dir`.
    fn write_pair(dir: &tempfile::TempDir) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let certificate = rcgen::CertificateParams::new(vec!["broker".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let certificate_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&certificate_path, certificate.pem()).expect("write");
        std::fs::write(&key_path, key.serialize_pem()).expect("write");
        (
            certificate_path.display().to_string(),
            key_path.display().to_string(),
        )
    }

    #[test]
    fn amqp_urls_are_checked_as_the_connection_reads_them() {
        assert_eq!(check_amqp_url(DEFAULT_URL), Ok(()));
        assert_eq!(check_amqp_url("amqp://u:p@mq:5672/tenant"), Ok(()));
        assert_eq!(check_amqp_url("amqps://mq:5671/"), Ok(()));
        assert!(check_amqp_url("amqp://mq:notaport/").is_err());
    }

    #[test]
    fn the_default_is_the_local_node_without_tls() {
        let address = BrokerAddress::from_env(&Env::from_map::<&str, &str>([])).expect("default");
        assert_eq!(address.url(), DEFAULT_URL);
        assert!(!address.uses_tls());
        assert_eq!(address.tls_config().cert_chain, None);
    }

    #[test]
    fn an_amqps_url_reads_the_ca_and_the_client_pair() {
        let dir = tempfile::tempdir().expect("dir");
        let (certificate, key) = write_pair(&dir);
        let env = Env::from_map([
            (URL_VAR, "amqps://u:secret@mq:5671/%2f"),
            (CA_FILE_VAR, certificate.as_str()),
            (CLIENT_CERT_VAR, certificate.as_str()),
            (CLIENT_KEY_VAR, key.as_str()),
        ]);
        let address = BrokerAddress::from_env(&env).expect("tls settings");
        assert!(address.uses_tls());
        let tls = address.tls_config();
        assert!(
            tls.cert_chain
                .is_some_and(|pem| pem.contains("CERTIFICATE"))
        );
        assert!(matches!(tls.identity, Some(OwnedIdentity::PKCS8 { .. })));
        let shown = format!("{address:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }

    #[test]
    fn tls_files_without_amqps_are_refused_naming_the_variable() {
        let dir = tempfile::tempdir().expect("dir");
        let (certificate, key) = write_pair(&dir);
        for (var, value) in [
            (CA_FILE_VAR, certificate.as_str()),
            (CLIENT_CERT_VAR, certificate.as_str()),
        ] {
            let mut vars = vec![(var, value)];
            if var == CLIENT_CERT_VAR {
                vars.push((CLIENT_KEY_VAR, key.as_str()));
            }
            let err = BrokerAddress::from_env(&Env::from_map(vars)).expect_err(var);
            assert_eq!(err.var, var);
            assert!(err.message.contains("amqps://"), "{}", err.message);
        }
    }

    #[test]
    fn bad_files_name_their_variable() {
        let dir = tempfile::tempdir().expect("dir");
        let (certificate, key) = write_pair(&dir);
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem").expect("write");
        let junk = junk.display().to_string();
        let tls = (URL_VAR, "amqps://mq:5671/");
        let cases = [
            (vec![tls, (CA_FILE_VAR, "/nonexistent/ca.pem")], CA_FILE_VAR),
            (vec![tls, (CA_FILE_VAR, junk.as_str())], CA_FILE_VAR),
            (
                vec![tls, (CLIENT_CERT_VAR, certificate.as_str())],
                CLIENT_KEY_VAR,
            ),
            (vec![tls, (CLIENT_KEY_VAR, key.as_str())], CLIENT_CERT_VAR),
            (
                vec![
                    tls,
                    (CLIENT_CERT_VAR, junk.as_str()),
                    (CLIENT_KEY_VAR, key.as_str()),
                ],
                CLIENT_CERT_VAR,
            ),
            (
                vec![
                    tls,
                    (CLIENT_CERT_VAR, certificate.as_str()),
                    (CLIENT_KEY_VAR, junk.as_str()),
                ],
                CLIENT_KEY_VAR,
            ),
        ];
        for (vars, var) in cases {
            let err = BrokerAddress::from_env(&Env::from_map(vars.clone())).expect_err(var);
            assert_eq!(err.var, var, "{vars:?}: {err}");
        }
    }
}
