//! `projects usage PROJECT [--days N]`: a project's tokens and runs by day,
//! beside its token budgets.

use super::Ctx;
use super::projects::resolve;
use crate::exit::{CliError, Exit};
use crate::render::{emit, emit_json};
use serde_json::Value;

/// `projects usage PROJECT [--days N]`.
pub async fn run(ctx: &Ctx, project: &str, days: Option<u32>) -> Result<Exit, CliError> {
    let id = resolve(ctx, project).await?;
    let query: Vec<(&str, String)> = days.map(|d| ("days", d.to_string())).into_iter().collect();
    let body = ctx
        .client
        .get(&format!("/v1/projects/{id}/usage"), &query)
        .await?;
    if ctx.json {
        emit_json(&body);
    } else {
        emit(&render(&body));
    }
    Ok(Exit::Success)
}

/// The usage as lines: budgets, today, this month, then a table by day.
fn render(body: &Value) -> String {
    let limit = |key: &str| match body["budget"][key].as_u64() {
        Some(n) => format!("{n} tokens"),
        None => "none".to_owned(),
    };
    let period = |p: &Value| {
        format!(
            "{} tokens, {} runs",
            p["tokens"].as_i64().unwrap_or(0),
            p["runs"].as_i64().unwrap_or(0)
        )
    };
    let mut lines = vec![
        format!(
            "budget: daily {}, monthly {} (a run that would start over it: {})",
            limit("daily"),
            limit("monthly"),
            body["budget"]["over_budget"].as_str().unwrap_or("wait")
        ),
        format!("today: {}", period(&body["today"])),
        format!("this month: {}", period(&body["this_month"])),
    ];
    if let Some(over) = body["exceeded"].as_object() {
        lines.push(format!(
            "over its {} budget: used {} of {} tokens",
            if over.get("period").and_then(Value::as_str) == Some("month") {
                "monthly"
            } else {
                "daily"
            },
            over.get("used").and_then(Value::as_u64).unwrap_or(0),
            over.get("limit").and_then(Value::as_u64).unwrap_or(0)
        ));
    }
    lines.push(format!("{:<10}  {:>12}  {:>6}", "DAY", "TOKENS", "RUNS"));
    for day in body["days"].as_array().into_iter().flatten() {
        lines.push(format!(
            "{:<10}  {:>12}  {:>6}",
            day["day"].as_str().unwrap_or("?"),
            day["tokens"].as_i64().unwrap_or(0),
            day["runs"].as_i64().unwrap_or(0)
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_shows_the_budgets_the_periods_and_each_day() {
        let body = json!({
            "budget": {"daily": 1000, "monthly": null, "over_budget": "fail"},
            "exceeded": {"period": "day", "used": 1200, "limit": 1000},
            "today": {"day": "2025-06-02", "tokens": 1200, "runs": 3},
            "this_month": {"day": "2025-06-01", "tokens": 1500, "runs": 4},
            "days": [{"day": "2025-06-02", "tokens": 1200, "runs": 3},
                     {"day": "2025-06-01", "tokens": 300, "runs": 1}],
        });
        let text = render(&body);
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "budget: daily 1000 tokens, monthly none (a run that would start over it: fail)",
                "today: 1200 tokens, 3 runs",
                "this month: 1500 tokens, 4 runs",
                "over its daily budget: used 1200 of 1000 tokens",
                "DAY               TOKENS    RUNS",
                "2025-06-02          1200       3",
                "2025-06-01           300       1",
            ]
        );
    }
}
