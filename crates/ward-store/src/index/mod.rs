//! Per-block indexes: time bounds and bloom filters over the common fields,
//! used to skip blocks that cannot match a search.

pub mod bloom;
pub mod signature;

/// Fields whose terms are indexed when the application supplies them in
/// [`crate::Record::terms`]. The store adds `event.id` and `event.category`
/// itself.
pub const INDEXED_FIELDS: &[&str] = &[
    "user.name",
    "user.id",
    "source.ip",
    "host.name",
    "service.name",
    "event.category",
    "event.action",
    "event.id",
];
