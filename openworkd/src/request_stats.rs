//! Request counts and latencies for `/metrics`, kept per thread: counting
//! an answered request touches only memory its own thread writes (no
//! counter or lock shared between cores), and a scrape adds the threads'
//! figures up.

use parking_lot::Mutex;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Labels that are all known when the daemon is built: counting a request
/// allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

/// Latency bucket bounds: 0.25 ms to ~8 s, doubling (then +Inf).
const BOUNDS: usize = 16;

fn bound(i: usize) -> f64 {
    0.000_25 * f64::from(1u32 << i)
}

/// One thread's figures.
#[derive(Debug, Default)]
struct Shard {
    counts: BTreeMap<RequestLabels, u64>,
    /// Per bucket (not cumulative); the last is +Inf.
    buckets: [u64; BOUNDS + 1],
    count: u64,
    sum: f64,
}

impl Shard {
    fn record(&mut self, labels: RequestLabels, seconds: f64) {
        *self.counts.entry(labels).or_default() += 1;
        let bucket = (0..BOUNDS).find(|&i| seconds <= bound(i)).unwrap_or(BOUNDS);
        self.buckets[bucket] += 1;
        self.count += 1;
        self.sum += seconds;
    }
}

/// Every thread's shard of one [`RequestStats`].
#[derive(Debug)]
struct Shards {
    id: u64,
    all: Mutex<Vec<Arc<Mutex<Shard>>>>,
}

thread_local! {
    /// This thread's shard of each `RequestStats` (by id; one in practice).
    static LOCAL: RefCell<Vec<(u64, Arc<Mutex<Shard>>)>> = const { RefCell::new(Vec::new()) };
}

/// Request counts by labels and the latency histogram.
#[derive(Debug, Clone)]
pub struct RequestStats(Arc<Shards>);

impl Default for RequestStats {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        RequestStats(Arc::new(Shards {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            all: Mutex::new(Vec::new()),
        }))
    }
}

impl RequestStats {
    pub fn record(&self, labels: RequestLabels, seconds: f64) {
        LOCAL.with_borrow_mut(|local| {
            let id = self.0.id;
            let index = match local.iter().position(|(of, _)| *of == id) {
                Some(index) => index,
                None => {
                    let shard = Arc::new(Mutex::new(Shard::default()));
                    self.0.all.lock().push(shard.clone());
                    local.push((id, shard));
                    local.len() - 1
                }
            };
            local[index].1.lock().record(labels, seconds);
        });
    }

    /// The counts of every thread, added up.
    fn counts(&self) -> BTreeMap<RequestLabels, u64> {
        let mut total = BTreeMap::new();
        for shard in self.0.all.lock().iter() {
            for (labels, n) in &shard.lock().counts {
                *total.entry(labels.clone()).or_default() += n;
            }
        }
        total
    }

    /// The counter family, as `/metrics` shows it.
    pub fn counter(&self) -> Counts {
        Counts(self.clone())
    }

    /// The latency histogram, as `/metrics` shows it.
    pub fn histogram(&self) -> Latency {
        Latency(self.clone())
    }
}

/// The request counts, encoded as a counter family.
#[derive(Debug)]
pub struct Counts(RequestStats);

impl EncodeMetric for Counts {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, n) in self.0.counts() {
            encoder
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }

    fn is_empty(&self) -> bool {
        self.0.0.all.lock().is_empty()
    }
}

/// The request latencies, encoded as a histogram.
#[derive(Debug)]
pub struct Latency(RequestStats);

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (mut sum, mut count) = (0.0, 0);
        let mut buckets = [0u64; BOUNDS + 1];
        for shard in self.0.0.all.lock().iter() {
            let shard = shard.lock();
            sum += shard.sum;
            count += shard.count;
            for (total, n) in buckets.iter_mut().zip(shard.buckets) {
                *total += n;
            }
        }
        let buckets: Vec<(f64, u64)> = buckets
            .iter()
            .enumerate()
            .map(|(i, n)| (if i < BOUNDS { bound(i) } else { f64::INFINITY }, *n))
            .collect();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_of_every_thread_are_added_up() {
        let stats = RequestStats::default();
        let labels = RequestLabels {
            method: "GET",
            route: "/health",
            status: 200,
        };
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..10 {
                        stats.record(labels.clone(), 0.001);
                    }
                });
            }
        });
        stats.record(labels.clone(), 100.0);
        assert_eq!(stats.counts()[&labels], 31);
        let mut text = String::new();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("latency", "", stats.histogram());
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("latency_count 31"), "{text}");
        assert!(text.contains(r#"latency_bucket{le="0.001"} 30"#), "{text}");
        assert!(text.contains(r#"latency_bucket{le="+Inf"} 31"#), "{text}");
    }
}
