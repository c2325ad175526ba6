//! Counts KMS calls by operation, as an SDK interceptor: it sees every request the client sends,
//! so the count is what KMS would bill, whatever the code under test believes it did.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Shared counts: clone it into a client's config and keep a clone to read.
#[derive(Debug, Clone, Default)]
pub struct KmsCalls(Arc<Mutex<HashMap<String, u64>>>);

impl KmsCalls {
    /// How many `operation` requests (`"GenerateDataKey"`, `"Decrypt"`) were sent, retries included.
    pub fn count(&self, operation: &str) -> u64 {
        self.0.lock().unwrap().get(operation).copied().unwrap_or(0)
    }
}

impl Intercept for KmsCalls {
    fn name(&self) -> &'static str {
        "KmsCalls"
    }

    /// Runs once per attempt, just before the request goes on the wire.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|metadata| metadata.name().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        *self.0.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}
