//! ward
