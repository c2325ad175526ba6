//! KMS calls per 1,000 orders, with the data-key cache and without.
//!
//! Exam: envelope encryption asks KMS for a data key (`GenerateDataKey`) and encrypts locally
//! with it; KMS bills per request and throttles per account and Region. create-order reuses one
//! data key for up to `DATA_KEY_CACHE_MAX_MESSAGES` orders (the template says 100) and 5 minutes
//! (`shared/src/crypto/key_cache.rs`); 0 turns the cache off. The release create-order places the
//! same number of orders under each setting, with its endpoint pointed at the [`AwsMeter`],
//! which counts the calls.

use serde_json::Value;

use crate::aws_meter::{AwsMeter, Readings};
use crate::function_runs;
use crate::subjects::Subject;

/// The calls counted for the same number of orders under each cache setting.
#[derive(Debug, Clone)]
pub struct KmsCalls {
    pub orders: usize,
    /// The template's setting (100 messages per data key).
    pub cached: Readings,
    /// `DATA_KEY_CACHE_MAX_MESSAGES=0`.
    pub uncached: Readings,
}

impl KmsCalls {
    /// `GenerateDataKey` calls per 1,000 orders.
    pub fn per_thousand(&self, readings: &Readings) -> f64 {
        readings.count("kms:GenerateDataKey") as f64 * 1000.0 / self.orders as f64
    }
}

/// Places `orders` orders with create-order (`create`) under each setting.
pub async fn measure(
    lambda: &orders_local::lambda::LambdaService,
    create: &Subject,
    moto: &str,
    event: &Value,
    orders: usize,
) -> Result<KmsCalls, String> {
    let meter = AwsMeter::start(moto)
        .await
        .map_err(|error| format!("starting the AWS meter: {error}"))?;
    let place = |max_messages: Option<&str>| {
        let mut subject = create.clone();
        let environment = &mut subject.process.environment;
        environment.insert("AWS_ENDPOINT_URL".into(), meter.endpoint().to_owned());
        if let Some(max_messages) = max_messages {
            environment.insert("DATA_KEY_CACHE_MAX_MESSAGES".into(), max_messages.into());
        }
        meter.reset();
        let meter = &meter;
        async move {
            // One cold start, then `orders - 1` warm invocations: `orders` orders in all.
            function_runs::run(lambda, &subject, Some(event), 201, orders.saturating_sub(1))
                .await
                .map_err(|error| error.to_string())?;
            Ok::<_, String>(meter.readings())
        }
    };
    let cached = place(None).await?;
    let uncached = place(Some("0")).await?;
    Ok(KmsCalls {
        orders,
        cached,
        uncached,
    })
}
