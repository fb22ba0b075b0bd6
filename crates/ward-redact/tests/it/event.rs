//! Event-level behaviour.
