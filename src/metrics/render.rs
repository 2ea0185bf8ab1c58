//! Rendering the registry as OpenMetrics text, whole or in chunks as they fill. Apart from the
//! recording because it runs on a scrape, on a blocking thread, not on a request's path.

use prometheus_client::encoding::text::encode;

use super::Metrics;

impl Metrics {
    /// Render every metric in the OpenMetrics text format, in one text (`GET /metrics` sends
    /// [`Metrics::render_chunked`]'s chunks as they fill instead).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Render every metric as [`Metrics::render`] does, handing the text to `send` in chunks of
    /// about `chunk` bytes as they fill (a scrape of 10 000 functions' series is about 0.8 MB,
    /// which held whole set the process's peak memory). `send` returning false (the scraper went
    /// away) stops the rendering.
    pub fn render_chunked(&self, chunk: usize, send: impl FnMut(String) -> bool) {
        struct Chunks<F> {
            buf: String,
            chunk: usize,
            send: F,
        }
        impl<F: FnMut(String) -> bool> std::fmt::Write for Chunks<F> {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                if self.buf.len() + s.len() > self.chunk && !self.buf.is_empty() {
                    let full = std::mem::replace(&mut self.buf, String::with_capacity(self.chunk));
                    if !(self.send)(full) {
                        return Err(std::fmt::Error);
                    }
                }
                self.buf.push_str(s);
                Ok(())
            }
        }
        let mut out = Chunks {
            buf: String::with_capacity(chunk),
            chunk,
            send,
        };
        if encode(&mut out, &self.registry).is_ok() && !out.buf.is_empty() {
            (out.send)(out.buf);
        }
    }
}
