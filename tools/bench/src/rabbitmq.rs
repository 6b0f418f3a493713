//! The RabbitMQ management api, for what the bench needs from the broker
//! itself: knowing when the workers consume, the broker's memory and a
//! queue's message counts, and deleting the queues and exchanges the api and
//! workers declared under the bench's prefix.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// A management api client for one vhost.
#[derive(Debug, Clone)]
pub struct Management {
    http: reqwest::Client,
    base: String,
    user: String,
    password: Option<String>,
    vhost: String,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Consumer {
    queue: Named,
}

/// The broker's side of a workload at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct BrokerFigures {
    /// `mem_used` of every node, MiB.
    pub mem_used_mib: f64,
    /// File descriptors the nodes use (`fd_used`).
    pub fd_used: u64,
    /// The queue's messages, ready and unacked.
    pub messages: u64,
    /// Of those, delivered and not yet acked.
    pub unacked: u64,
    /// The queue's own memory, MiB.
    pub queue_memory_mib: f64,
}

#[derive(Debug, Deserialize)]
struct Node {
    #[serde(default)]
    mem_used: u64,
    #[serde(default)]
    fd_used: u64,
}

#[derive(Debug, Deserialize)]
struct QueueCounts {
    #[serde(default)]
    messages: u64,
    #[serde(default)]
    messages_unacknowledged: u64,
    #[serde(default)]
    memory: u64,
}

impl Management {
    /// A client of `mgmt_url` (`http://user:pass@host:15672`) for the vhost of `amqp_url`.
    pub fn new(mgmt_url: &str, amqp_url: &str) -> anyhow::Result<Self> {
        let mut url = reqwest::Url::parse(mgmt_url).context("--rabbitmq-mgmt-url is not a URL")?;
        let user = if url.username().is_empty() {
            "guest".to_owned()
        } else {
            url.username().to_owned()
        };
        let password = url
            .password()
            .map(str::to_owned)
            .or_else(|| Some("guest".to_owned()));
        url.set_username("").ok();
        url.set_password(None).ok();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            base: url.as_str().trim_end_matches('/').to_owned(),
            user,
            password,
            vhost: vhost_of(amqp_url),
        })
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> anyhow::Result<T> {
        let response = self
            .http
            .get(format!("{}/api/{path}", self.base))
            .basic_auth(&self.user, self.password.as_ref())
            .send()
            .await
            .with_context(|| format!("GET /api/{path} failed"))?;
        if !response.status().is_success() {
            bail!("GET /api/{path}: {}", response.status());
        }
        response
            .json()
            .await
            .with_context(|| format!("GET /api/{path}: unexpected body"))
    }

    /// Waits until `queue` has at least `count` consumers; false after `timeout`.
    pub async fn wait_consumers(
        &self,
        queue: &str,
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let consumers: Vec<Consumer> = self.get(&format!("consumers/{}", self.vhost)).await?;
            if consumers.iter().filter(|c| c.queue.name == queue).count() >= count {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The nodes' memory and `queue`'s counts, now. The management api
    /// refreshes them every few seconds (`collect_statistics_interval`).
    pub async fn figures(&self, queue: &str) -> anyhow::Result<BrokerFigures> {
        let nodes: Vec<Node> = self.get("nodes").await?;
        let counts: QueueCounts = self.get(&format!("queues/{}/{queue}", self.vhost)).await?;
        const MIB: f64 = 1024.0 * 1024.0;
        Ok(BrokerFigures {
            mem_used_mib: crate::stats::round(
                nodes.iter().map(|n| n.mem_used).sum::<u64>() as f64 / MIB,
                1,
            ),
            fd_used: nodes.iter().map(|n| n.fd_used).sum(),
            messages: counts.messages,
            unacked: counts.messages_unacknowledged,
            queue_memory_mib: crate::stats::round(counts.memory as f64 / MIB, 2),
        })
    }

    /// Deletes every queue and exchange whose name starts with `prefix.`.
    pub async fn delete_prefixed(&self, prefix: &str) -> anyhow::Result<usize> {
        let mut deleted = 0;
        for kind in ["queues", "exchanges"] {
            let objects: Vec<Named> = self.get(&format!("{kind}/{}", self.vhost)).await?;
            for object in objects
                .iter()
                .filter(|o| o.name.starts_with(&format!("{prefix}.")))
            {
                let url = format!("{}/api/{kind}/{}/{}", self.base, self.vhost, object.name);
                let response = self
                    .http
                    .delete(url)
                    .basic_auth(&self.user, self.password.as_ref())
                    .send()
                    .await
                    .with_context(|| format!("cannot delete {kind} {}", object.name))?;
                if !response.status().is_success() {
                    bail!(
                        "cannot delete {kind} {}: {}",
                        object.name,
                        response.status()
                    );
                }
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

/// The vhost path segment of an AMQP URL, still percent-encoded (`%2f` for `/`).
fn vhost_of(amqp_url: &str) -> String {
    let rest = amqp_url.split_once("://").map_or(amqp_url, |(_, r)| r);
    let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
    let vhost = path.split(['?', '#']).next().unwrap_or("");
    if vhost.is_empty() {
        "%2f".to_owned()
    } else {
        vhost.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vhost_comes_from_the_amqp_path() {
        assert_eq!(vhost_of("amqp://guest:guest@127.0.0.1:5672/%2f"), "%2f");
        assert_eq!(
            vhost_of("amqp://guest:guest@127.0.0.1:5672/bench?heartbeat=10"),
            "bench"
        );
        assert_eq!(vhost_of("amqp://127.0.0.1:5672"), "%2f");
    }
}
