// `option_contracts_new_total` is labelled by days-to-expiry, not moneyness.
use g6_metrics::{labels, metrics};

fn main() {
    metrics::option_contracts_new_total(labels::Mny::Atm).inc();
}
