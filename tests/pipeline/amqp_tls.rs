//! The api and a worker reach a RabbitMQ node over TLS (`amqps://`): the
//! node has a TLS listener only, with a certificate signed by a CA made for
//! the test, and asks every client for a certificate that CA signed. A run
//! goes through with `AMQP_CA_FILE` and the client pair set; a connection
//! that trusts only the public roots, trusts another CA, presents no
//! certificate or speaks plain AMQP gets nowhere.

use crate::otlp_tls::TestPki;
use agent_runner_queue::{BrokerAddress, connect};
use agent_runner_test_fixtures::rabbit_node::{RabbitNode, TlsListener};
use agent_runner_tests::{ApiHandle, TestEnv, WorkerHandle};
use serde_json::json;
use std::time::Duration;

/// How long a refused connection may take to be refused.
const REFUSED_WITHIN: Duration = Duration::from_secs(10);

#[tokio::test]
async fn runs_go_through_a_tls_broker_that_refuses_what_it_cannot_verify() {
    let env = TestEnv::new().await;
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("dir");
    let [ca_file, cert_file, key_file] = pki.server_files(dir.path());
    let node = RabbitNode::create(
        &dir.path().join("node"),
        Some(TlsListener {
            ca_file: ca_file.clone(),
            cert_file,
            key_file,
            require_client_certificate: true,
        }),
    )
    .await
    .expect("a RabbitMQ node with a TLS listener");
    let url = node.amqp_url();
    assert!(url.starts_with("amqps://"), "{url}");

    let (client_cert, client_key) = pki.client_pem();
    let client_cert_file = dir.path().join("client.pem");
    let client_key_file = dir.path().join("client-key.pem");
    std::fs::write(&client_cert_file, client_cert).expect("write");
    std::fs::write(&client_key_file, client_key).expect("write");
    let ca = ca_file.display().to_string();
    let cert = client_cert_file.display().to_string();
    let key = client_key_file.display().to_string();
    let tls = [
        ("AMQP_URL", url.as_str()),
        ("AMQP_CA_FILE", ca.as_str()),
        ("AMQP_CLIENT_CERT_FILE", cert.as_str()),
        ("AMQP_CLIENT_KEY_FILE", key.as_str()),
    ];
    let api = ApiHandle::spawn(&env, &tls).await;
    let worker = WorkerHandle::spawn(&env, &tls).await;
    let project = api.project().await;
    let run = api.submit(&project, json!({"step_delay_ms": 10})).await;
    let done = api
        .wait_for(&run, &["COMPLETED"], Duration::from_secs(60))
        .await;
    assert_eq!(done["status"], "COMPLETED", "{done}");

    let verified = BrokerAddress::plain(&url)
        .with_ca_pem(pki.ca_pem())
        .with_client_identity(client_cert, client_key);
    let connection = connect::connect_within(&verified, "tls-probe", REFUSED_WITHIN)
        .await
        .expect("the CA and the client pair connect");
    let _closed = connection.close(200, "done".into()).await;

    let other = TestPki::new();
    let (other_cert, other_key) = other.client_pem();
    let refused = [
        ("the public roots only", BrokerAddress::plain(&url)),
        (
            "another CA",
            BrokerAddress::plain(&url)
                .with_ca_pem(other.ca_pem())
                .with_client_identity(client_cert, client_key),
        ),
        (
            "no client certificate",
            BrokerAddress::plain(&url).with_ca_pem(pki.ca_pem()),
        ),
        (
            "a client certificate another CA signed",
            BrokerAddress::plain(&url)
                .with_ca_pem(pki.ca_pem())
                .with_client_identity(other_cert, other_key),
        ),
        (
            "plain AMQP",
            BrokerAddress::plain(&url.replacen("amqps://", "amqp://", 1)),
        ),
    ];
    for (case, address) in refused {
        let outcome = connect::connect_within(&address, "tls-refused", REFUSED_WITHIN).await;
        assert!(outcome.is_err(), "{case}: connected");
    }

    worker.stop().await;
    api.stop().await;
    node.destroy().await;
}
