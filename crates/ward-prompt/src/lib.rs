//! ward-prompt
