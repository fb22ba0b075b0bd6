//! Ward's event model: one JSON object with ECS field names, nested by dots.
//!
//! Every source turns its input into an [`Event`]; rules, search and the UI
//! see only this shape.

mod event;

pub use event::Event;
