//! A project's token budgets: `settings.token_budget_daily`,
//! `settings.token_budget_monthly` (tokens the model reports, per UTC day
//! and per UTC calendar month) and `settings.over_budget` (what happens to a
//! run that would start over budget: `"wait"` or `"fail"`), and the words a
//! run over budget fails with. Plain rules: counting the usage is the
//! store's, enforcing it the worker's and the scheduler's.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// What a run that would start over budget does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverBudgetPolicy {
    /// It stays queued until the budget has room again (the default).
    #[default]
    Wait,
    /// It fails at once, naming the budget.
    Fail,
}

/// A project's token budgets, read from its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct TokenBudget {
    /// Tokens per UTC day; `None`: no daily budget.
    pub daily: Option<u64>,
    /// Tokens per UTC calendar month; `None`: no monthly budget.
    pub monthly: Option<u64>,
    /// What a run that would start over budget does.
    pub over_budget: OverBudgetPolicy,
}

impl TokenBudget {
    /// The budgets of a project's `settings`; the message names the key
    /// that is not a positive whole number (or `null`), or an `over_budget`
    /// other than `"wait"` and `"fail"`.
    pub fn from_settings(settings: &Value) -> Result<Self, String> {
        let limit = |key: &str| match settings.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_u64().filter(|n| *n >= 1).map(Some).ok_or_else(|| {
                format!(
                    "the project's settings.{key} must be a positive whole number of tokens \
                     or null, not {value}"
                )
            }),
        };
        let over_budget = match settings.get("over_budget") {
            None | Some(Value::Null) => OverBudgetPolicy::Wait,
            Some(Value::String(s)) if s == "wait" => OverBudgetPolicy::Wait,
            Some(Value::String(s)) if s == "fail" => OverBudgetPolicy::Fail,
            Some(other) => {
                return Err(format!(
                    "the project's settings.over_budget must be \"wait\" or \"fail\", not {other}"
                ));
            }
        };
        Ok(Self {
            daily: limit("token_budget_daily")?,
            monthly: limit("token_budget_monthly")?,
            over_budget,
        })
    }

    /// Whether any budget is set (otherwise there is nothing to check).
    pub fn is_limited(&self) -> bool {
        self.daily.is_some() || self.monthly.is_some()
    }

    /// The first budget `used_today` or `used_this_month` reached (the
    /// daily one first), if any.
    pub fn exceeded(&self, used_today: u64, used_this_month: u64) -> Option<OverBudget> {
        let over = |period, used, limit: Option<u64>| {
            limit
                .filter(|limit| used >= *limit)
                .map(|limit| OverBudget {
                    period,
                    used,
                    limit,
                })
        };
        over(BudgetPeriod::Day, used_today, self.daily)
            .or_else(|| over(BudgetPeriod::Month, used_this_month, self.monthly))
    }
}

/// The period a budget covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    /// A UTC day.
    Day,
    /// A UTC calendar month.
    Month,
}

impl BudgetPeriod {
    /// `daily` or `monthly`, as in the setting's name.
    pub fn adjective(self) -> &'static str {
        match self {
            BudgetPeriod::Day => "daily",
            BudgetPeriod::Month => "monthly",
        }
    }
}

/// A budget that is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OverBudget {
    /// Which budget.
    pub period: BudgetPeriod,
    /// Tokens used in the period so far.
    pub used: u64,
    /// The budget.
    pub limit: u64,
}

impl fmt::Display for OverBudget {
    /// `over its daily token budget: used N of M tokens`, to follow a
    /// project's name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "over its {} token budget: used {} of {} tokens",
            self.period.adjective(),
            self.used,
            self.limit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn budgets_are_read_from_settings_with_wait_as_the_default() {
        assert_eq!(
            TokenBudget::from_settings(&json!({})),
            Ok(TokenBudget::default())
        );
        let budget = TokenBudget::from_settings(&json!({
            "token_budget_daily": 1000, "token_budget_monthly": null, "over_budget": "fail"}))
        .expect("valid");
        assert_eq!(budget.daily, Some(1000));
        assert_eq!(budget.monthly, None);
        assert_eq!(budget.over_budget, OverBudgetPolicy::Fail);
        assert!(budget.is_limited());
    }

    #[test]
    fn a_bad_budget_setting_is_refused_by_name() {
        for (bad, key) in [
            (json!({"token_budget_daily": 0}), "token_budget_daily"),
            (json!({"token_budget_daily": -5}), "token_budget_daily"),
            (
                json!({"token_budget_monthly": "lots"}),
                "token_budget_monthly",
            ),
            (json!({"token_budget_monthly": 1.5}), "token_budget_monthly"),
            (json!({"over_budget": "queue"}), "over_budget"),
            (json!({"over_budget": true}), "over_budget"),
        ] {
            let err = TokenBudget::from_settings(&bad).expect_err("refused");
            assert!(err.contains(key), "{bad}: {err}");
        }
    }

    #[test]
    fn the_daily_budget_is_reported_before_the_monthly_one() {
        let budget = TokenBudget {
            daily: Some(100),
            monthly: Some(1000),
            over_budget: OverBudgetPolicy::Wait,
        };
        assert_eq!(budget.exceeded(99, 999), None);
        let over = budget.exceeded(100, 1000).expect("over");
        assert_eq!(over.period, BudgetPeriod::Day);
        assert_eq!(
            over.to_string(),
            "over its daily token budget: used 100 of 100 tokens"
        );
        let over = budget.exceeded(10, 1200).expect("over");
        assert_eq!(over.period, BudgetPeriod::Month);
        assert_eq!(over.used, 1200);
    }
}
