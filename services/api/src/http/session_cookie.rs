//! The console's session cookie and the cross-site request check.
//!
//! The cookie (`agent_runner_session`) is `HttpOnly` (no script reads it),
//! `SameSite=Strict` (no other site's page sends it), `Path=/`, with a
//! `Max-Age` of the session's lifetime, and `Secure` when the request came
//! over https ([`CookieSecurity`]). A request authenticated by the cookie
//! that changes state (any method but GET, HEAD and OPTIONS) must also
//! carry the session's CSRF token in `X-CSRF-Token`, and, when it has an
//! `Origin` header, come from the api's own origin: SameSite alone leaves
//! out browsers that do not honour it and same-site sibling origins.

use axum::http::header::{COOKIE, HOST, ORIGIN};
use axum::http::{HeaderMap, HeaderValue, Method};
use std::str::FromStr;

/// The cookie's name.
pub const COOKIE_NAME: &str = "agent_runner_session";

/// The header that carries the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// `CONSOLE_SECURE_COOKIE`: when the cookie gets the `Secure` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieSecurity {
    /// When the request says it came over https (`X-Forwarded-Proto:
    /// https` from the proxy that ends TLS); the api itself speaks plain
    /// HTTP.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl FromStr for CookieSecurity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "true" => Ok(Self::Always),
            "false" => Ok(Self::Never),
            other => Err(format!("expected auto, true or false, got `{other}`")),
        }
    }
}

impl CookieSecurity {
    fn secure(self, headers: &HeaderMap) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")),
        }
    }
}

/// The session secret in the request's `Cookie` headers, if any.
pub fn session_secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie` value that stores `secret` for `max_age_s`.
pub fn set(secret: &str, max_age_s: i64, security: CookieSecurity, request: &HeaderMap) -> String {
    let secure = if security.secure(request) {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{COOKIE_NAME}={secret}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{secure}"
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear(security: CookieSecurity, request: &HeaderMap) -> String {
    set("", 0, security, request)
}

/// Why a state-changing request with the cookie was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrossSite {
    /// No `X-CSRF-Token`, or not the session's.
    #[error("cross-site request refused: the X-CSRF-Token header is missing or wrong")]
    Token,
    /// An `Origin` other than the api's own.
    #[error("cross-site request refused: Origin `{0}` is not this api's")]
    Origin(String),
}

/// `Ok` when a request with `method` and `headers`, authenticated by the
/// cookie of a session whose CSRF token is `expected`, may go on.
pub fn check(method: &Method, headers: &HeaderMap, expected: &str) -> Result<(), CrossSite> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let Some(origin) = headers.get(ORIGIN)
        && !same_origin(origin, headers.get(HOST))
    {
        return Err(CrossSite::Origin(
            String::from_utf8_lossy(origin.as_bytes()).into_owned(),
        ));
    }
    let presented = headers
        .get(CSRF_HEADER)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if constant_time_eq(presented, expected.as_bytes()) {
        Ok(())
    } else {
        Err(CrossSite::Token)
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was
/// sent to. The scheme is not compared: behind a proxy that ends TLS the api
/// can not tell it.
fn same_origin(origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
    let (Ok(origin), Some(Ok(host))) = (origin.to_str(), host.map(HeaderValue::to_str)) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_secret_is_found_among_other_cookies() {
        let map = headers(&[("cookie", "a=1; agent_runner_session=ars_x ; b=2")]);
        assert_eq!(session_secret(&map), Some("ars_x"));
        assert_eq!(session_secret(&headers(&[("cookie", "a=1")])), None);
        let empty = headers(&[("cookie", "agent_runner_session=")]);
        assert_eq!(session_secret(&empty), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_behind_https() {
        let plain = set("s", 60, CookieSecurity::Auto, &HeaderMap::new());
        assert_eq!(
            plain,
            "agent_runner_session=s; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        let proxied = headers(&[("x-forwarded-proto", "https")]);
        assert!(set("s", 60, CookieSecurity::Auto, &proxied).ends_with("; Secure"));
        assert!(set("s", 60, CookieSecurity::Always, &HeaderMap::new()).ends_with("; Secure"));
        assert!(!set("s", 60, CookieSecurity::Never, &proxied).contains("Secure"));
    }

    #[test]
    fn unsafe_methods_need_the_token_and_the_own_origin() {
        let good = headers(&[("host", "h:8080"), ("x-csrf-token", "t")]);
        assert_eq!(check(&Method::POST, &good, "t"), Ok(()));
        assert_eq!(check(&Method::GET, &HeaderMap::new(), "t"), Ok(()));
        assert_eq!(
            check(&Method::POST, &headers(&[("host", "h")]), "t"),
            Err(CrossSite::Token)
        );
        let wrong = headers(&[("host", "h"), ("x-csrf-token", "u")]);
        assert_eq!(check(&Method::DELETE, &wrong, "t"), Err(CrossSite::Token));
        let own = headers(&[
            ("host", "h:8080"),
            ("origin", "http://h:8080"),
            ("x-csrf-token", "t"),
        ]);
        assert_eq!(check(&Method::PATCH, &own, "t"), Ok(()));
        let other = headers(&[
            ("host", "h:8080"),
            ("origin", "http://evil:8080"),
            ("x-csrf-token", "t"),
        ]);
        assert_eq!(
            check(&Method::POST, &other, "t"),
            Err(CrossSite::Origin("http://evil:8080".into()))
        );
        let opaque = headers(&[("host", "h"), ("origin", "null"), ("x-csrf-token", "t")]);
        assert!(check(&Method::POST, &opaque, "t").is_err());
    }
}
