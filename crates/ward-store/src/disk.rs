//! File-system steps that make writes durable and files immutable.

use crate::error::StoreError;
use std::path::Path;

/// fsyncs a directory so that created, renamed and removed entries survive
/// a power loss.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

/// Makes a file read-only for everyone (0444).
pub fn set_read_only(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444))
        .map_err(|e| StoreError::io("chmod 0444", path, e))
}

/// Now, in ms since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Creates a directory and its parents.
pub fn create_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))
}

/// The file name of a segment starting at `first`.
pub fn segment_name(first: u64, ext: &str) -> String {
    format!("{first:020}.{ext}")
}
