//! The store's error type, split so callers can map outages to 503.

use deadpool_postgres::PoolError;

/// What can go wrong talking to Postgres.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached (pool timeout, refused or closed
    /// connection). Callers answer 503 and retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A foreign key pointed at a row that does not exist.
    #[error("missing reference: {0}")]
    MissingReference(String),
    /// Any other database error (a bug or a schema mismatch).
    #[error("database error: {0}")]
    Db(#[source] tokio_postgres::Error),
}

impl StoreError {
    /// True when the database was unreachable rather than refusing the query.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        match err.code() {
            // No SQLSTATE: the error came from the connection, not the server.
            None => StoreError::Unavailable(err.to_string()),
            Some(code) if *code == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                StoreError::Conflict(db_message(&err))
            }
            Some(code) if *code == tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION => {
                StoreError::MissingReference(db_message(&err))
            }
            Some(code) if code.code().starts_with("08") || code.code().starts_with("57P") => {
                // Connection exceptions and operator intervention (shutdown, restart).
                StoreError::Unavailable(err.to_string())
            }
            Some(_) => StoreError::Db(err),
        }
    }
}

impl From<PoolError> for StoreError {
    fn from(err: PoolError) -> Self {
        match err {
            PoolError::Backend(e) => e.into(),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

fn db_message(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default()
}
