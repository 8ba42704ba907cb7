//! The Prometheus exporter, installed once per process by `serve` and `worker`.
//!
//! Design: every library records through the `metrics` facade and knows no exporter; this module
//! installs the one recorder, gives each histogram of `polyvox_core::metrics::ALL` its buckets
//! (so they render as real, aggregatable histograms rather than summaries), attaches the help
//! texts, and hands the server an [`Exposition`] that renders on `/metrics`. Histograms hold raw
//! samples until upkeep folds them into buckets, so a small thread runs upkeep periodically.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use polyvox_core::metrics::{ALL, Kind};
use polyvox_server::Exposition;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the exporter if it is not installed yet and returns the `/metrics` renderer.
/// Fails only if some other recorder was installed first.
pub fn install() -> anyhow::Result<Exposition> {
    let handle = match HANDLE.get() {
        Some(h) => h.clone(),
        None => {
            let handle = build()?.install_recorder()?;
            describe();
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("polyvox-metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })?;
            HANDLE.get_or_init(|| handle).clone()
        }
    };
    Ok(Exposition::new(move || handle.render()))
}

fn build() -> anyhow::Result<PrometheusBuilder> {
    let mut builder = PrometheusBuilder::new();
    for m in ALL.iter().filter(|m| m.kind == Kind::Histogram) {
        builder = builder.set_buckets_for_metric(Matcher::Full(m.name.into()), m.buckets)?;
    }
    Ok(builder)
}

fn describe() {
    for m in ALL {
        match m.kind {
            Kind::Counter => metrics::describe_counter!(m.name, m.help),
            Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
            Kind::Histogram => metrics::describe_histogram!(m.name, m.help),
        }
    }
}
