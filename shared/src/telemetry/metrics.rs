//! Metrics as CloudWatch Embedded Metric Format (EMF): JSON lines on stdout.
//!
//! CloudWatch Logs recognises a log line with an `_aws.CloudWatchMetrics` directive and extracts
//! the metrics it declares, asynchronously: the function makes no `PutMetricData` call, waits for
//! nothing and needs no `cloudwatch:PutMetricData` permission. One line per invocation carries
//! every metric counted during it:
//!
//! ```json
//! {"_aws": {"Timestamp": 1795400411000, "CloudWatchMetrics": [{"Namespace": "OrdersOnLambda",
//!   "Dimensions": [["service"]], "Metrics": [{"Name": "OrdersPlaced", "Unit": "Count"}]}]},
//!  "service": "create-order", "OrdersPlaced": 1}
//! ```
//!
//! Counts accumulate in the process and are written and reset by [`flush`] at the end of each
//! invocation (a Lambda environment runs one invocation at a time).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The CloudWatch namespace of every metric of this application.
pub const NAMESPACE: &str = "OrdersOnLambda";

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    OrdersPlaced,
    VersionConflicts,
    PaymentsFailed,
    DataKeyCacheHits,
    DataKeyCacheMisses,
    BatchItemFailures,
    ColdStart,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::OrdersPlaced => "OrdersPlaced",
            Metric::VersionConflicts => "VersionConflicts",
            Metric::PaymentsFailed => "PaymentsFailed",
            Metric::DataKeyCacheHits => "DataKeyCacheHits",
            Metric::DataKeyCacheMisses => "DataKeyCacheMisses",
            Metric::BatchItemFailures => "BatchItemFailures",
            Metric::ColdStart => "ColdStart",
        }
    }
}

static COUNTS: Mutex<BTreeMap<Metric, u64>> = Mutex::new(BTreeMap::new());

/// Adds `n` to a metric of the current invocation.
pub fn count(metric: Metric, n: u64) {
    if n > 0 {
        *lock().entry(metric).or_default() += n;
    }
}

/// Writes the invocation's metrics as one EMF line on stdout (nothing if none were counted).
pub fn flush(service: &str) {
    let _ = flush_to(service, &mut std::io::stdout().lock());
}

/// Writes the invocation's metrics as one EMF line to `out`, and starts counting afresh.
pub fn flush_to(service: &str, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let counts = std::mem::take(&mut *lock());
    match emf_line(service, &counts, chrono::Utc::now().timestamp_millis()) {
        Some(line) => writeln!(out, "{line}"),
        None => Ok(()),
    }
}

/// The EMF document for `counts`, or `None` if there is nothing to report.
pub fn emf_line(
    service: &str,
    counts: &BTreeMap<Metric, u64>,
    timestamp_ms: i64,
) -> Option<String> {
    if counts.is_empty() {
        return None;
    }
    let declared: Vec<serde_json::Value> = counts
        .keys()
        .map(|m| serde_json::json!({"Name": m.name(), "Unit": "Count"}))
        .collect();
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["service"]],
                "Metrics": declared,
            }],
        },
        "service": service,
    });
    for (metric, value) in counts {
        line[metric.name()] = serde_json::json!(value);
    }
    Some(line.to_string())
}

fn lock() -> std::sync::MutexGuard<'static, BTreeMap<Metric, u64>> {
    COUNTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The EMF rules CloudWatch applies: a directive with a namespace, dimension sets that name
    /// members of the line, metrics that are members of the line with numeric values.
    fn assert_valid_emf(line: &str) {
        let doc: serde_json::Value = serde_json::from_str(line).expect("one JSON object");
        assert!(doc["_aws"]["Timestamp"].is_i64(), "{line}");
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            assert!(
                directive["Namespace"]
                    .as_str()
                    .is_some_and(|ns| !ns.is_empty())
            );
            for set in directive["Dimensions"].as_array().unwrap() {
                for dimension in set.as_array().unwrap() {
                    assert!(doc[dimension.as_str().unwrap()].is_string(), "{line}");
                }
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(doc[name].is_number(), "{name} in {line}");
                assert_eq!(metric["Unit"], "Count");
            }
        }
    }

    #[test]
    fn what_is_counted_is_flushed_once_as_valid_emf() {
        count(Metric::OrdersPlaced, 1);
        count(Metric::VersionConflicts, 2);
        let mut out = Vec::new();
        flush_to("update-order", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert_valid_emf(text.trim_end());
        // (Other tests of this process may count too, so only what this one counted is checked.)
        let doc: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert!(doc["VersionConflicts"].as_u64().unwrap() >= 2);
        assert_eq!(doc["service"], "update-order");
    }

    #[test]
    fn an_emf_line_declares_exactly_the_metrics_it_carries() {
        let counts = BTreeMap::from([(Metric::OrdersPlaced, 1), (Metric::DataKeyCacheHits, 3)]);
        let line = emf_line("create-order", &counts, 1_795_400_411_000).unwrap();
        assert_valid_emf(&line);
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_795_400_411_000_i64);
        assert_eq!(directive["Namespace"], NAMESPACE);
        // Every dimension and every declared metric is a member of the line itself.
        for dimension in directive["Dimensions"][0].as_array().unwrap() {
            assert!(doc.get(dimension.as_str().unwrap()).is_some());
        }
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["OrdersPlaced", "DataKeyCacheHits"]);
        assert_eq!(doc["OrdersPlaced"], 1);
        assert_eq!(doc["DataKeyCacheHits"], 3);
        assert_eq!(emf_line("x", &BTreeMap::new(), 0), None);
    }
}
