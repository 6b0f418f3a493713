//! Prometheus metrics of one worker, served on `WORKER_METRICS_ADDR/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The worker's metrics, in a registry of their own.
#[derive(Clone)]
pub struct WorkerMetrics {
    registry: Registry,
    /// Attempts started, by agent.
    pub started: IntCounterVec,
    /// Attempts ended, by status (COMPLETED, FAILED, CANCELLED, AWAITING_APPROVAL, RETRYING) and agent.
    pub finished: IntCounterVec,
    /// Messages this worker dead-lettered, by reason class.
    pub dead_lettered: IntCounterVec,
    /// Attempt duration, by agent.
    pub attempt_duration: HistogramVec,
    /// Time from `created_at` to the first claim, by agent.
    pub pickup_latency: HistogramVec,
    /// Runs executing now.
    pub in_flight: IntGauge,
    /// Deliveries whose run was parked (its project had no free slot), by
    /// reason.
    pub parked: IntCounterVec,
}

impl WorkerMetrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let started = IntCounterVec::new(
            Opts::new("agent_runner_attempts_started_total", "Attempts started"),
            &["agent"],
        )
        .expect("valid metric");
        let finished = IntCounterVec::new(
            Opts::new(
                "agent_runner_attempts_finished_total",
                "Attempts ended, by resulting run status",
            ),
            &["status", "agent"],
        )
        .expect("valid metric");
        let dead_lettered = IntCounterVec::new(
            Opts::new(
                "agent_runner_dead_lettered_total",
                "Messages dead-lettered by this worker",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let attempt_duration = HistogramVec::new(
            HistogramOpts::new("agent_runner_attempt_duration_seconds", "Attempt duration")
                .buckets(vec![
                    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0,
                ]),
            &["agent"],
        )
        .expect("valid metric");
        let pickup_latency = HistogramVec::new(
            HistogramOpts::new(
                "agent_runner_pickup_latency_seconds",
                "Time from submission to first claim",
            )
            .buckets(vec![0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0]),
            &["agent"],
        )
        .expect("valid metric");
        let in_flight = IntGauge::new("agent_runner_runs_in_flight", "Runs executing now")
            .expect("valid metric");
        let parked = IntCounterVec::new(
            Opts::new(
                "agent_runner_runs_parked_total",
                "Runs parked at the claim because their project had no free slot",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(started.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(finished.clone()),
            Box::new(dead_lettered.clone()),
            Box::new(attempt_duration.clone()),
            Box::new(pickup_latency.clone()),
            Box::new(in_flight.clone()),
            Box::new(parked.clone()),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        Self {
            registry,
            started,
            finished,
            dead_lettered,
            attempt_duration,
            pickup_latency,
            in_flight,
            parked,
        }
    }

    /// Counts a run parked for `reason`.
    pub fn parked(&self, reason: &str) {
        self.parked.with_label_values(&[reason]).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let _encoded = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self::new()
    }
}
