//! The console's files, embedded into the binary (see `build.rs`), found by
//! their path under `services/api/console/`.

/// Every file: its path relative to the console directory, and its bytes;
/// sorted by path.
static FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// An embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its bytes.
    pub bytes: &'static [u8],
    /// Its `Content-Type`.
    pub content_type: &'static str,
}

/// The file at `path` (e.g. `app.js`, `pages/runs.js`), if there is one.
pub fn get(path: &str) -> Option<Asset> {
    let index = FILES.binary_search_by(|(name, _)| (*name).cmp(path)).ok()?;
    let (name, bytes) = FILES[index];
    Some(Asset {
        bytes,
        content_type: content_type(name),
    })
}

/// The page every client-side route answers.
pub fn index() -> Asset {
    get("index.html").expect("services/api/console/index.html is embedded")
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json" | "webmanifest") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_embedded_and_lookups_are_exact() {
        assert!(index().content_type.starts_with("text/html"));
        assert!(get("index.html").is_some());
        assert!(get("../index.html").is_none());
        assert!(get("").is_none());
        assert!(FILES.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
    }
}
