//! JSON bodies for the answers hyper writes itself. A request hyper can not
//! parse (a malformed request line or header, a URI or header block over
//! its limits) never reaches the router: hyper answers it 400, 414 or 431
//! with an empty body and closes the connection. [`JsonParseErrors`] wraps
//! each connection's socket and replaces such an answer, as it is written,
//! with the same status carrying the api's error body and security headers.
//!
//! Only a write that is one whole head saying `content-length: 0` with a
//! 400/414/431 status is replaced: every answer of the router to an error
//! has a JSON body, so such a head can only be hyper's own (hyper writes an
//! answer's head as one buffer, its body, if any, as others).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection's socket whose parse-error answers become JSON.
#[derive(Debug)]
pub struct JsonParseErrors<T> {
    inner: T,
    /// A replacement answer and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> JsonParseErrors<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

impl<T: AsyncWrite + Unpin> JsonParseErrors<T> {
    /// Writes what is left of a replacement answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = self.pending.as_mut() {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonParseErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        if let Some(replacement) = replacement(buf) {
            this.pending = Some((replacement, 0));
            // Written on this call if the socket takes it, else on the next
            // write, flush or shutdown: hyper counts its own head as written.
            if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut filled = bufs.iter().filter(|buf| !buf.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next())
            && replacement(only).is_some()
        {
            return self.poll_write(cx, only);
        }
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The JSON answer for an empty parse-error answer hyper is writing, if
/// `head` is one.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    // Cheap first: most writes are bodies, or heads of other statuses.
    let status = head.get(9..12)?;
    if head.len() > 4096
        || !head.starts_with(b"HTTP/1.")
        || !matches!(status, b"400" | b"414" | b"431")
    {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    if !text.ends_with("\r\n\r\n") {
        return None;
    }
    let (status_line, headers) = text.split_once("\r\n")?;
    let (code, message) = match status_line {
        "HTTP/1.1 400 Bad Request" | "HTTP/1.0 400 Bad Request" => (
            "bad_request",
            "the request could not be parsed as HTTP (request line or a header is malformed)",
        ),
        "HTTP/1.1 414 URI Too Long" | "HTTP/1.0 414 URI Too Long" => {
            ("uri_too_long", "the request's URI is too long")
        }
        "HTTP/1.1 431 Request Header Fields Too Large"
        | "HTTP/1.0 431 Request Header Fields Too Large" => (
            "headers_too_large",
            "the request's headers are too large or too many",
        ),
        _ => return None,
    };
    let lines: Vec<&str> = headers.trim_end_matches("\r\n").split("\r\n").collect();
    if !lines
        .iter()
        .any(|line| line.eq_ignore_ascii_case("content-length: 0"))
    {
        return None;
    }
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let mut answer = format!("{status_line}\r\n");
    for line in lines {
        if !line.to_ascii_lowercase().starts_with("content-length:") {
            answer.push_str(line);
            answer.push_str("\r\n");
        }
    }
    answer.push_str(&format!(
        "content-type: application/json\r\n\
         content-length: {}\r\n\
         connection: close\r\n\
         x-content-type-options: nosniff\r\n\
         cache-control: no-store\r\n\r\n{body}",
        body.len()
    ));
    Some(answer.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_empty_parse_error_answer_is_replaced() {
        let hyper = "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 10:00:00 GMT\r\n\r\n";
        let answer =
            String::from_utf8(replacement(hyper.as_bytes()).expect("replaced")).expect("text");
        let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
        assert!(head.contains("date: Thu"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(body["error"]["code"], "headers_too_large");

        for kept in [
            // The router's own answers have bodies.
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 57\r\n\r\n",
            "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
            // Not a whole head.
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            "{\"error\":{}}",
        ] {
            assert_eq!(replacement(kept.as_bytes()), None, "{kept}");
        }
    }
}
