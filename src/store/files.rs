//! The files of a store directory, shared by the Parquet writer and the lifecycle
//! (retention and compaction) that walk it.

use std::path::{Path, PathBuf};

/// Every regular file under `dir`, recursively (symlinks are not followed; an
/// unreadable directory is passed over).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .collect()
}
