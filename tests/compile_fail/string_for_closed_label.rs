// Closed labels take the generated enum, never a free string.
use g6_metrics::metrics;

fn main() {
    metrics::collection_cycles_total("ok").inc();
}
