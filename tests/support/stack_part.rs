//! The part of `template.yaml` each test deploys, and how: through the local stack's
//! CloudFormation step, under a stack name of the test's own.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use orders_local::cloudformation::{self, Deployed, Template};

use crate::{moto, moto_sdk_config};

/// The part of `template.yaml` a test deploys: the resources its handlers use. The rest would
/// cost every test moto's time, which tests running in parallel share (it serves one request at a
/// time): the Cognito user pool about 0.3 s (moto reads an RSA signing key for every new pool),
/// and the REST API and the functions refer to it; the key's alias three requests (it is how the
/// local stack finds the key again, and each test's stack is deployed once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackPart {
    /// The KMS key and the table: what the API functions use.
    Storage,
    /// Storage, and the event pipeline: the topic, the queues with their dead-letter queues, and
    /// the subscriptions.
    Pipeline,
}

impl StackPart {
    fn resource_types(self) -> &'static [&'static str] {
        const STORAGE: &[&str] = &["AWS::KMS::Key", "AWS::DynamoDB::Table"];
        const PIPELINE: &[&str] = &[
            "AWS::KMS::Key",
            "AWS::DynamoDB::Table",
            "AWS::SNS::Topic",
            "AWS::SQS::Queue",
            "AWS::SNS::Subscription",
        ];
        match self {
            StackPart::Storage => STORAGE,
            StackPart::Pipeline => PIPELINE,
        }
    }

    /// This part of `template.yaml`, read once per test process.
    fn template(self) -> &'static Template {
        static STORAGE: OnceLock<Template> = OnceLock::new();
        static PIPELINE: OnceLock<Template> = OnceLock::new();
        let template = match self {
            StackPart::Storage => &STORAGE,
            StackPart::Pipeline => &PIPELINE,
        };
        template.get_or_init(|| {
            let path = moto::workspace_root().join("template.yaml");
            cloudformation::load_only(&path, self.resource_types())
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        })
    }

    /// Deploys this part onto this process's moto server as `make dev` deploys the whole
    /// template (the same CloudFormation step), under a stack name no other test uses: each
    /// resource is named after its stack (`<stack>-OrdersTable`), so each test has its own.
    pub(crate) async fn deploy(self) -> Deployed {
        let stack_name = unique_stack_name();
        cloudformation::deploy(self.template(), &moto_sdk_config().await, &stack_name)
            .await
            .unwrap_or_else(|error| panic!("deploying template.yaml as {stack_name}: {error}"))
    }
}

/// `test-<process>-<n>`: unique on this process's moto server.
fn unique_stack_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The physical id of a resource the template declares (`logical_id`), as the deploy made it.
pub fn physical(id: Option<&str>, logical_id: &str) -> String {
    id.unwrap_or_else(|| panic!("template.yaml declares {logical_id}, but the deploy has none"))
        .to_owned()
}
