//! The HTTP client OTLP/HTTP exports go through: reqwest with rustls,
//! trusting the public (webpki) roots and the CAs of
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`, so `https://` collectors work without a
//! CA bundle in the image, and showing the client certificate of
//! `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` to a collector that asks for one.
//!
//! The SDK's batch processor exports from a thread of its own, outside any
//! Tokio runtime, while reqwest needs one: each request is spawned on the
//! runtime the exporter was built in, and its result handed back. The
//! binaries flush at shutdown from a blocking task, while that runtime
//! still runs.

use crate::otlp_certificate::CaCertificate;
use crate::otlp_client_identity::ClientIdentity;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use std::time::Duration;
use tokio::runtime::Handle;

/// How long one export may take, response included.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// reqwest behind the exporter.
#[derive(Debug, Clone)]
pub struct OtlpHttpClient {
    client: reqwest::Client,
    runtime: Handle,
}

impl OtlpHttpClient {
    /// A client on the current Tokio runtime, trusting `ca` as well as the
    /// public roots, and showing `client` when asked for a certificate.
    pub fn new(
        ca: Option<&CaCertificate>,
        client: Option<&ClientIdentity>,
    ) -> Result<Self, String> {
        let runtime = Handle::try_current().map_err(|_| {
            "the OTLP/HTTP exporter must be built inside a Tokio runtime".to_owned()
        })?;
        let mut builder = reqwest::Client::builder().timeout(EXPORT_TIMEOUT);
        for certificate in ca.map(CaCertificate::certificates).unwrap_or_default() {
            builder = builder.add_root_certificate(certificate);
        }
        if let Some(client) = client {
            builder = builder.identity(client.reqwest().map_err(|e| e.to_string())?);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Self { client, runtime })
    }
}

#[async_trait::async_trait]
impl HttpClient for OtlpHttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let response = client.execute(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        });
        let (status, headers, body) = sent.await??;
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}
