//! Procedural macros for `g6-metrics`. `#[safe_emit]` lands with the runtime issue.
