//! The `g6` binary; see [`g6_metrics::cli`].

fn main() -> std::process::ExitCode {
    g6_metrics::cli::main()
}
