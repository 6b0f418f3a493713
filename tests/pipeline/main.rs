//! End-to-end tests of the pipeline: api → RabbitMQ → workers → Postgres → api.
//! Every test gets its own database, vhost and queue prefix.

mod amqp_tls;
mod api_metrics;
mod api_shutdown;
mod authorization;
mod cancel_and_retry;
mod cancel_races;
mod cli;
mod console_data;
mod console_session;
mod crash;
mod dead_letters;
mod errors;
mod event_log;
mod git_boundary;
mod hostile_input;
mod llm;
mod metrics;
mod model_allowance;
mod openapi;
mod otlp;
mod otlp_grpc;
mod otlp_mtls;
mod otlp_tls;
mod projects;
mod reaper;
mod retries;
mod secrets;
mod shutdown;
mod stalls;
mod stream;
mod submit;
mod tokens;
mod trace_context;
mod waiting;
mod worker_ports;
