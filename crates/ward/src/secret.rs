//! `Secret<T>`: a value (token, password, webhook URL) whose `Debug`,
//! `Display` and `Serialize` never show it. One type for the whole program:
//! the application uses the one `ward-alert` defines for its receivers.

pub use ward_alert::Secret;
