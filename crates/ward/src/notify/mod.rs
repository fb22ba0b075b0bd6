//! Notifications: receivers and the durable outbox.
