//! ward-redact
