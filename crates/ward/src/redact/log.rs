//! Ward's own log lines pass through redaction before they reach stderr:
//! a log line may quote input (a rejected record's reason, a peer's
//! error), and secrets must never leave the process, not even there.
//!
//! `tracing`'s formatter writes each event with one `write` of the whole
//! line, so a line is redacted as a whole.

use std::io::{self, Write};
use std::sync::Arc;

use ward_redact::{RedactConfig, Redactor};

/// Makes redacting writers over stderr (or any writer, for tests).
#[derive(Clone)]
pub struct LogWriter<W> {
    redactor: Arc<Redactor>,
    /// Hashed values in log lines need not correlate across restarts: a
    /// fresh key per process.
    key: [u8; 32],
    inner: W,
}

impl LogWriter<fn() -> io::Stderr> {
    /// Redacting writers over stderr with the default detectors.
    pub fn stderr() -> anyhow::Result<Self> {
        LogWriter::new(io::stderr as fn() -> io::Stderr)
    }
}

impl<W> LogWriter<W> {
    /// Redacting writers over what `inner` makes.
    pub fn new(inner: W) -> anyhow::Result<Self> {
        Ok(LogWriter {
            redactor: Arc::new(Redactor::new(&RedactConfig::default())?),
            key: rand::random(),
            inner,
        })
    }
}

/// One redacting write.
pub struct Redacting<'a, O> {
    writer: &'a Redactor,
    key: &'a [u8; 32],
    out: O,
}

impl<O: Write> Write for Redacting<'_, O> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (clean, _) = self.writer.redact_text(&text, self.key);
        self.out.write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<'a, W, O> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter<W>
where
    W: Fn() -> O + 'static,
    O: Write,
{
    type Writer = Redacting<'a, O>;

    fn make_writer(&'a self) -> Self::Writer {
        Redacting {
            writer: &self.redactor,
            key: &self.key,
            out: (self.inner)(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tracing_subscriber::fmt::MakeWriter as _;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn secrets_in_a_log_line_are_redacted() {
        let sink = Sink::default();
        let s2 = sink.clone();
        let w = LogWriter::new(move || s2.clone()).unwrap();
        let line = "WARN rejected record: password=hunter2hunter2 card 4111 1111 1111 1111 token ghp_abcdefghijklmnopqrstuvwxyz0123456789\n";
        w.make_writer().write_all(line.as_bytes()).unwrap();
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(out.starts_with("WARN rejected record"), "{out}");
        for secret in [
            "hunter2hunter2",
            "4111 1111 1111 1111",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        ] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
    }

    #[test]
    fn an_ordinary_line_is_unchanged() {
        let sink = Sink::default();
        let s2 = sink.clone();
        let w = LogWriter::new(move || s2.clone()).unwrap();
        let line = "INFO event store opened segments=3\n";
        w.make_writer().write_all(line.as_bytes()).unwrap();
        assert_eq!(sink.0.lock().unwrap().as_slice(), line.as_bytes());
    }
}
