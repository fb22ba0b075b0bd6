//! ward-alert
