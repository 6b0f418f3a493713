//! Capping of text that goes to the model, into events and into results.
//!
//! Every tool output and every event payload is bounded: a model that prints a
//! gigabyte must not fill the context window or the events table.

/// Appended where text was cut.
pub const TRUNCATED_MARKER: &str = "[truncated]";

/// Cuts `text` to at most `cap` bytes (on a character boundary) and appends
/// [`TRUNCATED_MARKER`] when anything was cut. Returns the text and whether it
/// was cut.
pub fn cap_text(text: &str, cap: usize) -> (String, bool) {
    if text.len() <= cap {
        return (text.to_owned(), false);
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + TRUNCATED_MARKER.len() + 1);
    out.push_str(&text[..end]);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(TRUNCATED_MARKER);
    (out, true)
}

/// A byte buffer that keeps the first `cap` bytes written to it and remembers
/// whether more arrived.
#[derive(Debug, Default)]
pub(crate) struct CappedBuffer {
    bytes: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl CappedBuffer {
    /// An empty buffer keeping at most `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            bytes: Vec::new(),
            cap,
            truncated: false,
        }
    }

    /// Keeps what fits of `chunk`.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        let room = self.cap.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// The kept bytes as (lossy) UTF-8, with the marker when something was
    /// dropped, and whether something was.
    pub(crate) fn finish(self) -> (String, bool) {
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.truncated {
            if !text.ends_with('\n') && !text.is_empty() {
                text.push('\n');
            }
            text.push_str(TRUNCATED_MARKER);
        }
        (text, self.truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_left_alone() {
        assert_eq!(cap_text("hello", 10), ("hello".to_owned(), false));
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary_and_marked() {
        let (text, cut) = cap_text("ééééé", 3);
        assert!(cut);
        assert_eq!(text, format!("é\n{TRUNCATED_MARKER}"));
    }

    #[test]
    fn capped_buffer_keeps_the_head_and_marks_the_rest() {
        let mut buf = CappedBuffer::new(4);
        buf.push(b"ab");
        buf.push(b"cdef");
        let (text, cut) = buf.finish();
        assert!(cut);
        assert_eq!(text, format!("abcd\n{TRUNCATED_MARKER}"));
    }
}
