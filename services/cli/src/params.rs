//! Agent parameters from the command line: `--param key=value` (repeatable)
//! and `--params-json '{…}'`, merged into the `params` object of a submission.
//!
//! A `--param` value is typed the way a shell user means it: `true`/`false`
//! become booleans, JSON numbers become numbers (`step_delay_ms=0` → `0`),
//! anything else stays a string. Quote through `--params-json` to force a type.

use serde_json::{Map, Number, Value};

/// Parses one `key=value` pair (a clap value parser: an error is a usage error).
pub fn parse_param(raw: &str) -> Result<(String, Value), String> {
    let (key, value) = raw
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got `{raw}`"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("the key is empty in `{raw}`"));
    }
    Ok((key.to_owned(), typed_value(value)))
}

/// The JSON value a command-line string stands for.
pub fn typed_value(raw: &str) -> Value {
    match raw {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    // Only strings that are exactly a JSON number: no padding, no `007`, no `NaN`.
    let looks_numeric = raw.starts_with(|c: char| c == '-' || c.is_ascii_digit())
        && !raw.ends_with(char::is_whitespace);
    match looks_numeric
        .then(|| serde_json::from_str::<Number>(raw).ok())
        .flatten()
    {
        Some(number) => Value::Number(number),
        None => Value::String(raw.to_owned()),
    }
}

/// Parses `--params-json` (a clap value parser): it must be a JSON object.
pub fn parse_params_json(raw: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("must be a JSON object, like '{\"step_delay_ms\": 0}'".to_owned()),
        Err(err) => Err(format!("is not valid JSON: {err}")),
    }
}

/// The `params` object to send: `--params-json` first, each `--param`
/// overriding a key of the same name; `None` when neither was given.
pub fn merge(json: Option<Map<String, Value>>, pairs: Vec<(String, Value)>) -> Option<Value> {
    if json.is_none() && pairs.is_empty() {
        return None;
    }
    let mut params = json.unwrap_or_default();
    params.extend(pairs);
    Some(Value::Object(params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_become_json_numbers() {
        assert_eq!(
            parse_param("step_delay_ms=0"),
            Ok(("step_delay_ms".into(), json!(0)))
        );
        assert_eq!(typed_value("250"), json!(250));
        assert_eq!(typed_value("-3"), json!(-3));
        assert_eq!(typed_value("1.5"), json!(1.5));
    }

    #[test]
    fn true_and_false_become_booleans() {
        assert_eq!(parse_param("flag=true"), Ok(("flag".into(), json!(true))));
        assert_eq!(typed_value("false"), json!(false));
    }

    #[test]
    fn everything_else_stays_a_string() {
        assert_eq!(
            parse_param("fail=fatal"),
            Ok(("fail".into(), json!("fatal")))
        );
        for raw in [
            "", "007", "1 ", " 1", "NaN", "True", "null", "1e", "12abc", "x=y",
        ] {
            assert_eq!(typed_value(raw), json!(raw), "{raw:?}");
        }
    }

    #[test]
    fn only_the_first_equals_sign_splits() {
        assert_eq!(parse_param("query=a=b"), Ok(("query".into(), json!("a=b"))));
    }

    #[test]
    fn a_pair_needs_a_key_and_an_equals_sign() {
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("=1").is_err());
    }

    #[test]
    fn params_json_must_be_an_object() {
        assert_eq!(
            parse_params_json(r#"{"a": 1}"#).map(Value::Object),
            Ok(json!({"a": 1}))
        );
        assert!(parse_params_json("[1]").is_err());
        assert!(parse_params_json("{").is_err());
    }

    #[test]
    fn params_override_keys_of_params_json() {
        let base = parse_params_json(r#"{"step_delay_ms": 10, "fail": "fatal"}"#).ok();
        let merged = merge(base, vec![("step_delay_ms".into(), json!(0))]);
        assert_eq!(merged, Some(json!({"step_delay_ms": 0, "fail": "fatal"})));
        assert_eq!(merge(None, Vec::new()), None);
        assert_eq!(
            merge(None, vec![("a".into(), json!(true))]),
            Some(json!({"a": true}))
        );
    }
}
