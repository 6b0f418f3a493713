//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`:
//! Postgres answers and the RabbitMQ publisher is connected).

use crate::http::error::ErrorDetail;
use crate::state::AppState;
use agent_runner_store::pool;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// `/healthz` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
}

/// `/readyz` answer: `status` when ready, `error` when not, `checks` always.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when both dependencies are usable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `not_ready` and a message when a dependency is not usable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    /// Each dependency: `ok` or why not.
    pub checks: Checks,
}

/// The state of each dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    /// `ok` or the connection error.
    pub postgres: String,
    /// `ok` or `not connected`.
    pub rabbitmq: String,
}

/// Always 200 while the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process serves requests", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// 200 when both dependencies are usable, 503 naming the failing one otherwise.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Postgres and RabbitMQ are usable", body = Readiness),
        (status = 503, description = "A dependency is not usable", body = Readiness),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let postgres = match pool::ping(&state.pool).await {
        Ok(()) => "ok".to_owned(),
        Err(err) => err.to_string(),
    };
    let rabbitmq = if state.broker.is_connected() {
        "ok"
    } else {
        "not connected"
    };
    let ready = postgres == "ok" && rabbitmq == "ok";
    let checks = Checks {
        postgres,
        rabbitmq: rabbitmq.to_owned(),
    };
    if ready {
        let body = Readiness {
            status: Some("ready".into()),
            error: None,
            checks,
        };
        (StatusCode::OK, Json(body))
    } else {
        let body = Readiness {
            status: None,
            error: Some(ErrorDetail {
                code: "not_ready".into(),
                message: "a dependency is unavailable".into(),
            }),
            checks,
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(body))
    }
}
