//! scripts/canary-rehearsal.sh (exam scenario 15: a canary rolled back by an alarm) against fake
//! `aws`, `make` and `sam` executables first on PATH. The risk is in the sequence (build a new
//! release, deploy, wait for CodeDeploy, force the alarm, wait for the rollback) and in naming the
//! step that misbehaved, so that is what runs here; the real services run in `docs/deploy.md`'s
//! "Rehearsing a canary".
//!
//! The fake `aws` logs its arguments and answers the n-th call of an operation with the n-th
//! canned JSON of that operation (the last one repeats); the fake `make deploy` runs until the
//! stack's last answer tells it how sam deploy ends.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use orders_tests::moto::workspace_root;
use serde_json::{Value, json};

const STACK: &str = "orders-on-lambda";
const FUNCTION: &str = "orders-on-lambda-create-order";
const GROUP: &str = "orders-on-lambda-CreateOrderFunctionDeploymentGroup-1A2B3C";
const ALARM: &str = "orders-on-lambda-create-order-alias-errors";
const DEPLOYMENT: &str = "d-REHEARSAL1";

/// `aws` answers by operation (`cloudformation.describe-stacks`), `make` and `sam` log and return.
const FAKE_AWS: &str = r#"#!/usr/bin/env bash
echo "aws $*" >>"$FAKE_DIR/calls.log"
operation=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --region | --output) shift ;;
        --*) ;;
        *) [[ ${#operation[@]} -lt 2 ]] && operation+=("$1") ;;
    esac
    shift
done
key="${operation[0]}.${operation[1]}"
count=$(( $(cat "$FAKE_DIR/count.$key" 2>/dev/null || echo 0) + 1 ))
echo "$count" >"$FAKE_DIR/count.$key"
answers="$FAKE_DIR/answers/$key"
[[ -d $answers ]] || { echo "fake aws: no answer for $key" >&2; exit 255; }
last=$(ls "$answers" | grep -E '^[0-9]+$' | sort -n | tail -1)
n=$(( count < last ? count : last ))
[[ -f "$answers/$n.deploy-exit" ]] && cp "$answers/$n.deploy-exit" "$FAKE_DIR/deploy-exit"
if [[ -f "$answers/$n.fails" ]]; then cat "$answers/$n" >&2; exit 254; fi
cat "$answers/$n"
"#;

const FAKE_MAKE: &str = r#"#!/usr/bin/env bash
echo "make $* ORDERS_RELEASE=${ORDERS_RELEASE:-}" >>"$FAKE_DIR/calls.log"
if [[ " $* " == *" deploy "* ]]; then
    for _ in $(seq 1 200); do
        [[ -f "$FAKE_DIR/deploy-exit" ]] && exit "$(cat "$FAKE_DIR/deploy-exit")"
        sleep 0.05
    done
    exit 99
fi
"#;

const FAKE_SAM: &str = r#"#!/usr/bin/env bash
echo "sam $*" >>"$FAKE_DIR/calls.log"
"#;

/// A directory of fakes and their answers, unique to one test.
struct Fakes {
    dir: PathBuf,
}

impl Fakes {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "orders-canary-rehearsal-{test}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("bin")).unwrap();
        for (name, script) in [("aws", FAKE_AWS), ("make", FAKE_MAKE), ("sam", FAKE_SAM)] {
            let path = dir.join("bin").join(name);
            fs::write(&path, script).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let fakes = Self { dir };
        fakes.preflight_answers();
        fakes
    }

    /// The answers of `operation`'s calls, in order (the last repeats).
    fn answers(&self, operation: &str, answers: &[Value]) -> &Self {
        let dir = self.dir.join("answers").join(operation);
        fs::create_dir_all(&dir).unwrap();
        for (index, answer) in answers.iter().enumerate() {
            // Null: a call that prints nothing (set-alarm-state).
            let text = if answer.is_null() {
                String::new()
            } else {
                answer.to_string()
            };
            fs::write(dir.join((index + 1).to_string()), text).unwrap();
        }
        self
    }

    /// The `n`-th call of `operation` (1-based) fails with `message`.
    fn fails(&self, operation: &str, n: usize, message: &str) -> &Self {
        let dir = self.dir.join("answers").join(operation);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(n.to_string()), message).unwrap();
        fs::write(dir.join(format!("{n}.fails")), "").unwrap();
        self
    }

    /// When the `n`-th call of `operation` is answered, the fake `make deploy` exits `code`.
    fn deploy_exits(&self, operation: &str, n: usize, code: i32) -> &Self {
        let path = self.dir.join("answers").join(operation);
        fs::write(path.join(format!("{n}.deploy-exit")), code.to_string()).unwrap();
        self
    }

    /// A healthy stack before the rehearsal: credentials, outputs, resources, alarms OK, no
    /// deployment, `live` on version 3 (arm64).
    fn preflight_answers(&self) {
        self.answers(
            "sts.get-caller-identity",
            &[json!({"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/ada"})],
        )
        .answers("cloudformation.describe-stacks", &[stack("UPDATE_COMPLETE")])
        .answers(
            "cloudformation.list-stack-resources",
            &[json!({"StackResourceSummaries": [
                resource("CreateOrderFunction", FUNCTION, "AWS::Lambda::Function"),
                resource("CreateOrderFunctionDeploymentGroup", GROUP, "AWS::CodeDeploy::DeploymentGroup"),
                resource("CreateOrderAliasErrorsAlarm", ALARM, "AWS::CloudWatch::Alarm"),
                resource("ApiServerErrorsAlarm", "orders-on-lambda-api-5xx", "AWS::CloudWatch::Alarm"),
            ]})],
        )
        .answers("cloudwatch.describe-alarms", &[json!({"MetricAlarms": []})])
        .answers("deploy.list-deployments", &[json!({"deployments": []})])
        .answers("lambda.get-alias", &[alias("3", None)])
        .answers(
            "lambda.get-function-configuration",
            &[json!({"FunctionName": FUNCTION, "Version": "3", "Architectures": ["arm64"]})],
        );
    }

    /// Runs the script with the fakes first on PATH and quick waits.
    fn run(&self, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(workspace_root().join("scripts/canary-rehearsal.sh"))
            .args(args)
            .args(["--poll-seconds", "0.05", "--log-dir"])
            .arg(self.dir.join("logs"))
            .env("PATH", path)
            .env("FAKE_DIR", &self.dir)
            .output()
            .expect("the script runs")
    }

    /// Runs the script, expects it to exit 0 and returns its stdout.
    fn succeeds(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stdout = text(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{stdout}\n{}",
            text(&output.stderr)
        );
        stdout
    }

    /// Runs the script, expects it to exit 1 naming `step` as the one that failed, and returns
    /// its stderr.
    fn fails_at(&self, step: &str, args: &[&str]) -> String {
        let output = self.run(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
        assert!(
            stderr.contains(&format!("FAILED at step '{step}'")),
            "{stderr}"
        );
        stderr
    }

    /// The calls the fakes saw, one line each.
    fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Fakes {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn stack(status: &str) -> Value {
    json!({"Stacks": [{"StackName": STACK, "StackStatus": status, "Outputs": [
        {"OutputKey": "CodeDeployApplication", "OutputValue": "orders-on-lambda-ServerlessDeploymentApplication-X1"},
        {"OutputKey": "CreateOrderFunctionArn", "OutputValue": format!("arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}")},
    ]}]})
}

fn resource(logical: &str, physical: &str, kind: &str) -> Value {
    json!({"LogicalResourceId": logical, "PhysicalResourceId": physical, "ResourceType": kind})
}

fn alias(version: &str, weights: Option<Value>) -> Value {
    let mut alias = json!({"Name": "live", "FunctionVersion": version,
        "AliasArn": format!("arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:live")});
    if let Some(weights) = weights {
        alias["RoutingConfig"] = json!({"AdditionalVersionWeights": weights});
    }
    alias
}

fn deployment(status: &str) -> Value {
    json!({"deploymentInfo": {"deploymentId": DEPLOYMENT, "status": status}})
}

/// The index of the first call containing every one of `parts`, after call `from`.
fn position(calls: &[String], from: usize, parts: &[&str]) -> usize {
    calls
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, call)| parts.iter().all(|part| call.contains(part)))
        .map(|(index, _)| index)
        .unwrap_or_else(|| panic!("no call with {parts:?} after call {from}: {calls:#?}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// CodeDeploy's canary as the fakes tell it: no deployment, then one in progress; the alias split
/// 90/10 between versions 3 and 4.
fn canary_started(fakes: &Fakes) {
    fakes
        .answers(
            "deploy.list-deployments",
            &[
                json!({"deployments": []}),
                json!({"deployments": []}),
                json!({"deployments": [DEPLOYMENT]}),
            ],
        )
        .answers(
            "lambda.get-alias",
            &[
                alias("3", None),
                alias("3", Some(json!({"4": 0.1}))),
                alias("3", Some(json!({"4": 0.1}))),
                alias("3", None),
            ],
        );
}

#[test]
fn an_alarm_mid_canary_rolls_the_alias_and_the_stack_back() {
    let fakes = Fakes::new("rollback");
    canary_started(&fakes);
    fakes
        .answers(
            "deploy.get-deployment",
            &[
                deployment("InProgress"),
                json!({"deploymentInfo": {"deploymentId": DEPLOYMENT, "status": "Stopped",
                    "errorInformation": {"code": "ALARM_ACTIVE", "message": "One or more alarms have been activated"}}}),
            ],
        )
        .answers(
            "cloudformation.describe-stacks",
            &[
                stack("UPDATE_COMPLETE"),
                stack("UPDATE_ROLLBACK_IN_PROGRESS"),
                stack("UPDATE_ROLLBACK_COMPLETE"),
            ],
        )
        .answers("cloudwatch.set-alarm-state", &[Value::Null])
        .deploy_exits("cloudformation.describe-stacks", 3, 1);

    let stdout = fakes.succeeds(&["rollback", "--timeout-seconds", "10"]);

    let calls = fakes.calls();
    // Nothing changes before the preflight has read everything.
    let build = position(
        &calls,
        0,
        &["make build", "ARCH=arm64", "ORDERS_RELEASE=rehearsal-"],
    );
    for call in &calls[..build] {
        assert!(call.starts_with("aws "), "{call}");
        assert!(!call.contains("set-alarm-state"), "{call}");
    }
    // make deploy runs in the background: its line may come after the first polls.
    position(&calls, build, &["make deploy", "CONFIG_ENV=default"]);
    let started = position(
        &calls,
        build,
        &["deploy list-deployments", GROUP, "InProgress"],
    );
    let split = position(&calls, started, &["lambda get-alias", FUNCTION, "live"]);
    let alarm = position(
        &calls,
        split,
        &[
            "cloudwatch set-alarm-state",
            &format!("--alarm-name {ALARM}"),
            "--state-value ALARM",
        ],
    );
    // The alarm is set before the first look at the deployment's status, not only kept in ALARM.
    let stopped = position(&calls, split, &["deploy get-deployment", DEPLOYMENT]);
    assert!(alarm < stopped, "{calls:#?}");
    let rolled_back = position(&calls, stopped, &["lambda get-alias", FUNCTION]);
    position(
        &calls,
        rolled_back,
        &["cloudformation describe-stacks", STACK],
    );
    assert!(
        !calls.iter().any(|call| call.starts_with("sam ")),
        "{calls:#?}"
    );

    for shown in [
        "live: version 3 keeps the rest, version 4 gets 0.1",
        "deployment d-REHEARSAL1 is Stopped: One or more alarms have been activated",
        "live: version 3, no routing config",
        "stack orders-on-lambda is UPDATE_ROLLBACK_COMPLETE",
        "make deploy exited 1",
        "canary rehearsal passed",
    ] {
        assert!(stdout.contains(shown), "{shown:?} not in\n{stdout}");
    }
}

#[test]
fn a_deployment_that_never_stops_fails_naming_the_step() {
    let fakes = Fakes::new("never-stops");
    canary_started(&fakes);
    fakes
        .answers("deploy.get-deployment", &[deployment("InProgress")])
        .answers("cloudwatch.set-alarm-state", &[Value::Null]);

    let stderr = fakes.fails_at("deployment stopped", &["--timeout-seconds", "2"]);
    assert!(
        stderr.contains("no stop of deployment d-REHEARSAL1 within 2s")
            && stderr.contains("deployment d-REHEARSAL1 InProgress"),
        "{stderr}"
    );
}

#[test]
fn promote_waits_for_success_and_the_alias_on_the_new_version() {
    let fakes = Fakes::new("promote");
    canary_started(&fakes);
    fakes
        .answers(
            "lambda.get-alias",
            &[
                alias("3", None),
                alias("3", Some(json!({"4": 0.1}))),
                alias("4", None),
            ],
        )
        .answers(
            "deploy.get-deployment",
            &[deployment("InProgress"), deployment("Succeeded")],
        )
        .answers(
            "cloudformation.describe-stacks",
            &[
                stack("UPDATE_COMPLETE"),
                stack("UPDATE_IN_PROGRESS"),
                stack("UPDATE_COMPLETE"),
            ],
        )
        .deploy_exits("cloudformation.describe-stacks", 3, 0);

    let stdout = fakes.succeeds(&["promote", "--timeout-seconds", "10"]);
    let calls = fakes.calls();
    assert!(
        !calls.iter().any(|call| call.contains("set-alarm-state")),
        "{calls:#?}"
    );
    assert!(
        stdout.contains("live: version 4, no routing config"),
        "{stdout}"
    );
    assert!(stdout.contains("make deploy exited 0"), "{stdout}");
}

#[test]
fn a_deployment_that_succeeds_despite_the_alarm_fails_the_rehearsal() {
    let fakes = Fakes::new("alarm-ignored");
    canary_started(&fakes);
    fakes
        .answers("deploy.get-deployment", &[deployment("Succeeded")])
        .answers("cloudwatch.set-alarm-state", &[Value::Null]);

    let stderr = fakes.fails_at("deployment stopped", &["--timeout-seconds", "10"]);
    assert!(stderr.contains("succeeded despite the alarm"), "{stderr}");
}

#[test]
fn a_deploy_that_starts_no_deployment_fails_naming_the_step() {
    let fakes = Fakes::new("no-deployment");
    // No new version, no canary: sam deploy ends without CodeDeploy.
    fakes
        .answers(
            "deploy.list-deployments",
            &[json!({"deployments": []}), json!({"deployments": []})],
        )
        .deploy_exits("deploy.list-deployments", 2, 0);

    let stderr = fakes.fails_at("deployment started", &["--timeout-seconds", "10"]);
    assert!(
        stderr.contains("make deploy exited 0 before CodeDeploy started a deployment"),
        "{stderr}"
    );
}

#[test]
fn dry_run_reads_the_stack_and_changes_nothing() {
    let fakes = Fakes::new("dry-run");
    let stdout = fakes.succeeds(&["--dry-run"]);

    let calls = fakes.calls();
    for call in &calls {
        assert!(
            call.starts_with("aws "),
            "only the AWS CLI's reads run: {call}"
        );
        let read_only = [
            "sts get-caller-identity",
            "cloudformation describe-stacks",
            "cloudformation list-stack-resources",
            "cloudwatch describe-alarms",
            "deploy list-deployments",
            "lambda get-function-configuration",
            "lambda get-alias",
        ];
        assert!(read_only.iter().any(|read| call.contains(read)), "{call}");
    }
    for printed in [
        "would run: env ORDERS_RELEASE=rehearsal-",
        "make build ARCH=arm64",
        "would run: make deploy CONFIG_ENV=default",
        &format!(
            "would run: aws cloudwatch set-alarm-state --alarm-name {ALARM} --state-value ALARM"
        ),
    ] {
        assert!(stdout.contains(printed), "{printed:?} not in\n{stdout}");
    }
}

#[test]
fn a_missing_stack_is_refused_before_anything_changes() {
    let fakes = Fakes::new("no-stack");
    fakes.fails(
        "cloudformation.describe-stacks",
        1,
        "An error occurred (ValidationError): Stack with id orders-on-lambda does not exist",
    );
    let stderr = fakes.fails_at("preflight", &[]);
    assert!(
        stderr.contains("FAILED at step 'preflight': no stack orders-on-lambda in us-east-1"),
        "{stderr}"
    );
    let calls = fakes.calls();
    assert_eq!(calls.len(), 2, "{calls:#?}");
}
