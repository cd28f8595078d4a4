// `panel_writes_total` has one label (write_mode); calling it without one must not compile.
use g6_metrics::{labels, metrics};

fn main() {
    metrics::panel_writes_total().inc();
    metrics::collection_cycles_total(labels::Result::Ok, labels::Result::Error).inc();
}
