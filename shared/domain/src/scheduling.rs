//! What decides when a run may start: its `priority` (on submit) and its
//! project's `settings.max_concurrent_runs` and `settings.weight`. Pure
//! checks, no I/O; the admission itself is `agent_runner_store::admission`.

use serde_json::Value;

/// Lowest `priority` a run may have.
pub const PRIORITY_MIN: i16 = -10;
/// Highest `priority` a run may have.
pub const PRIORITY_MAX: i16 = 10;
/// Largest `settings.max_concurrent_runs`.
pub const MAX_CONCURRENT_RUNS_LIMIT: u64 = 100_000;
/// Largest `settings.weight`.
pub const WEIGHT_MAX: u64 = 1000;

/// `settings.max_concurrent_runs`: how many of the project's runs may run
/// at once; `None` when the project sets none (the api's default applies).
pub fn max_concurrent_runs(settings: &Value) -> Result<Option<u32>, String> {
    match settings.get("max_concurrent_runs") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=MAX_CONCURRENT_RUNS_LIMIT).contains(n))
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "the project's settings.max_concurrent_runs must be a whole number from 1 \
                     to {MAX_CONCURRENT_RUNS_LIMIT} or null, not {value}"
                )
            }),
    }
}

/// `settings.weight`: the project's share of the workers when several
/// projects wait, relative to the others' (default 1).
pub fn weight(settings: &Value) -> Result<u32, String> {
    match settings.get("weight") {
        None | Some(Value::Null) => Ok(1),
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=WEIGHT_MAX).contains(n))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                format!(
                    "the project's settings.weight must be a whole number from 1 to \
                     {WEIGHT_MAX}, not {value}"
                )
            }),
    }
}

/// Checks the scheduling keys of a project's settings.
pub fn validate_settings(settings: &Value) -> Result<(), String> {
    max_concurrent_runs(settings)?;
    weight(settings)?;
    Ok(())
}

/// Checks a run's `priority`.
pub fn check_priority(priority: i64) -> Result<i16, String> {
    i16::try_from(priority)
        .ok()
        .filter(|p| (PRIORITY_MIN..=PRIORITY_MAX).contains(p))
        .ok_or_else(|| {
            format!("priority must be between {PRIORITY_MIN} and {PRIORITY_MAX}, got {priority}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_and_weights_are_read_with_their_defaults() {
        assert_eq!(max_concurrent_runs(&json!({})), Ok(None));
        assert_eq!(
            max_concurrent_runs(&json!({"max_concurrent_runs": null})),
            Ok(None)
        );
        assert_eq!(
            max_concurrent_runs(&json!({"max_concurrent_runs": 2})),
            Ok(Some(2))
        );
        assert_eq!(weight(&json!({})), Ok(1));
        assert_eq!(weight(&json!({"weight": 3})), Ok(3));
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        for bad in [
            json!({"max_concurrent_runs": 0}),
            json!({"max_concurrent_runs": -1}),
            json!({"max_concurrent_runs": 1.5}),
            json!({"max_concurrent_runs": "2"}),
            json!({"weight": 0}),
            json!({"weight": 1001}),
            json!({"weight": true}),
        ] {
            let err = validate_settings(&bad).expect_err("refused");
            let key = bad
                .as_object()
                .and_then(|m| m.keys().next())
                .expect("one key")
                .clone();
            assert!(err.contains(&key), "{err}");
        }
    }

    #[test]
    fn priorities_outside_the_range_are_refused() {
        assert_eq!(check_priority(10), Ok(10));
        assert_eq!(check_priority(-10), Ok(-10));
        assert!(check_priority(11).is_err());
        assert!(check_priority(-11).is_err());
        assert!(check_priority(i64::MAX).is_err());
    }
}
