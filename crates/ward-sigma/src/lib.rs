//! ward-sigma
