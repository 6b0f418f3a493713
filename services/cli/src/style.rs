//! Colours for human output, on only when they can help: a terminal, no
//! `--no-color`, no `NO_COLOR` (https://no-color.org), and not `TERM=dumb`.

/// Whether (and how) to colour text for one output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    color: bool,
}

const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const MAGENTA: &str = "35";
const CYAN: &str = "36";
const BOLD: &str = "1";
const DIM: &str = "2";

impl Style {
    /// The style for a stream that `is_terminal` (or not).
    pub fn detect(no_color_flag: bool, is_terminal: bool) -> Self {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Style {
            color: is_terminal && !no_color_flag && !no_color_env && !dumb,
        }
    }

    /// No colours at all.
    #[cfg(test)]
    pub fn plain() -> Self {
        Style { color: false }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Red (errors, deletions).
    pub fn red(self, text: &str) -> String {
        self.paint(RED, text)
    }

    /// Green (additions).
    pub fn green(self, text: &str) -> String {
        self.paint(GREEN, text)
    }

    /// Cyan (hunk headers, event kinds).
    pub fn cyan(self, text: &str) -> String {
        self.paint(CYAN, text)
    }

    /// Bold (headers).
    pub fn bold(self, text: &str) -> String {
        self.paint(BOLD, text)
    }

    /// Dim (secondary details).
    pub fn dim(self, text: &str) -> String {
        self.paint(DIM, text)
    }

    /// A run status in its colour; `text` may be `status` padded for a table.
    pub fn status(self, status: &str, text: &str) -> String {
        let code = match status {
            "COMPLETED" => GREEN,
            "FAILED" => RED,
            "CANCELLED" => DIM,
            "REJECTED" => MAGENTA,
            "RUNNING" | "RETRYING" | "AWAITING_APPROVAL" => YELLOW,
            _ => return text.to_owned(),
        };
        self.paint(code, text)
    }

    /// An event kind in its colour; `text` may be `kind` padded.
    pub fn kind(self, kind: &str, text: &str) -> String {
        match crate::model::final_status_of_kind(kind) {
            Some(status) => self.status(status, text),
            None if kind == "RUN_RETRYING" => self.paint(YELLOW, text),
            None => self.cyan(text),
        }
    }
}
