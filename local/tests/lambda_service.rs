//! The local Lambda service and API Gateway, with real function binaries and no AWS.
//!
//! `record-audit` and `get-order` are built from this workspace and run as Lambda runs them: a
//! process per function, talking to the Runtime API. Both are driven down paths that fail before
//! any AWS call (a message that is not an order event; an order id that is not a UUID), so no
//! AWS, and no moto, is needed. Behaviour a real function cannot be made to show on demand
//! (hanging, crashing, reporting an error) comes from a few lines of bash speaking the Runtime
//! API: a custom runtime needs nothing more than HTTP.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support;

use orders_local::api_gateway::{Access, ApiGateway, ApiSettings, Route};
use orders_local::lambda::{FunctionProcess, InvokeError, LambdaService, LogOutput, TraceHeader};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const ANY_PORT: &str = "127.0.0.1:0";
const CALLER_SEGMENT: &str = "53995c3f42cd8ad8";

/// The executable of a function crate, built once per test run (`cargo build`, debug profile).
fn function_binary(package: &str) -> PathBuf {
    static BINARIES: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    let binaries = BINARIES.get_or_init(|| {
        support::stack::build_binaries(&["record-audit", "get-order", "create-order"])
    });
    binaries
        .get(package)
        .unwrap_or_else(|| panic!("cargo built no binary {package}"))
        .clone()
}

/// A custom runtime in bash: echoes each event back (after 0.4 s if it contains `nap`), except
/// that an event containing `sleep` hangs, `crash` exits mid-invocation, `fail` reports a handler error, `pid` is answered with
/// `{"pid": <its process id>, "event": <the event>}`, and `environment` with the process's
/// exported variables (`["NAME=value", ...]`).
const BASH_RUNTIME: &str = r#"#!/bin/bash
api=${AWS_LAMBDA_RUNTIME_API#http://}
address=${api%%/*}
prefix=/${api#*/}
request() { # method, path under /2018-06-01/runtime/, body
  exec 3<>"/dev/tcp/${address%:*}/${address##*:}"
  printf '%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
    "$1" "$prefix/2018-06-01/runtime/$2" "$address" "${#3}" "$3" >&3
}
while true; do
  request GET invocation/next ""
  id=; length=0
  while IFS= read -r line <&3; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
    case "${line,,}" in
      lambda-runtime-aws-request-id:*) id=${line#*: } ;;
      content-length:*) length=${line#*: } ;;
    esac
  done
  IFS= read -r -N "$length" event <&3
  exec 3<&-
  echo "handling $id"
  case "$event" in *nap*) sleep 0.4 ;; esac
  case "$event" in
    *sleep*) sleep 60 ;;
    *crash*) echo "about to crash" >&2; exit 3 ;;
    *fail*) request POST "invocation/$id/error" '{"errorType":"Boom","errorMessage":"it failed"}' ;;
    *pid*) request POST "invocation/$id/response" "{\"pid\":$$,\"event\":$event}" ;;
    *environment*)
      list=; for name in $(compgen -e); do list="$list\"$name=${!name}\","; done
      request POST "invocation/$id/response" "[${list%,}]" ;;
    *) request POST "invocation/$id/response" "$event" ;;
  esac
  cat <&3 >/dev/null
  exec 3<&-
done
"#;

fn bash_runtime() -> PathBuf {
    static SCRIPT: OnceLock<PathBuf> = OnceLock::new();
    SCRIPT
        .get_or_init(|| {
            use std::os::unix::fs::PermissionsExt;
            let directory = std::env::temp_dir()
                .join(format!("orders-local-bash-runtime-{}", std::process::id()));
            std::fs::create_dir_all(&directory).unwrap();
            let script = directory.join("bootstrap");
            std::fs::write(&script, BASH_RUNTIME).unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
            script
        })
        .clone()
}

fn function(
    name: &str,
    executable: PathBuf,
    environment: &[(&str, &str)],
    timeout: Duration,
) -> FunctionProcess {
    FunctionProcess {
        name: name.to_owned(),
        function_name: format!("orders-local-{name}"),
        executable,
        environment: environment
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect::<BTreeMap<_, _>>(),
        timeout,
        memory_mb: 128,
    }
}

/// What the template gives record-audit, minus the AWS endpoint it never reaches in these tests.
const RECORD_AUDIT_ENVIRONMENT: &[(&str, &str)] = &[
    ("TABLE_NAME", "orders"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

fn record_audit(environment: &[(&str, &str)]) -> FunctionProcess {
    function(
        "RecordAuditFunction",
        function_binary("record-audit"),
        environment,
        Duration::from_secs(30),
    )
}

/// An SQS batch of one message whose body is not an order event: record-audit reports it as a
/// failed item without calling AWS.
fn poison_batch(message_id: &str) -> Vec<u8> {
    json!({"Records": [{"messageId": message_id, "body": "not an order event"}]})
        .to_string()
        .into_bytes()
}

fn batch_failure(message_id: &str) -> Value {
    json!({"batchItemFailures": [{"itemIdentifier": message_id}]})
}

async fn start_lambda(xray_daemon: Option<SocketAddr>) -> LambdaService {
    LambdaService::start(ANY_PORT.parse().unwrap(), LogOutput::Discard, xray_daemon)
        .await
        .expect("the Runtime API starts")
}

fn as_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| panic!("not JSON: {bytes:?}"))
}

#[tokio::test]
async fn record_audit_answers_and_its_second_invocation_is_warm() {
    let lambda = start_lambda(None).await;
    lambda.add(record_audit(RECORD_AUDIT_ENVIRONMENT)).await;
    assert_eq!(
        lambda.pid("RecordAuditFunction").await,
        None,
        "no process before the first invocation"
    );

    let response = lambda
        .invoke("RecordAuditFunction", poison_batch("m-1"), None)
        .await
        .unwrap();
    assert_eq!(as_json(&response), batch_failure("m-1"));
    let cold = lambda
        .pid("RecordAuditFunction")
        .await
        .expect("a warm process");

    let response = lambda
        .invoke("RecordAuditFunction", poison_batch("m-2"), None)
        .await
        .unwrap();
    assert_eq!(as_json(&response), batch_failure("m-2"));
    assert_eq!(
        lambda.pid("RecordAuditFunction").await,
        Some(cold),
        "the same execution environment served the second invocation"
    );

    lambda.shutdown().await;
    assert_eq!(lambda.pid("RecordAuditFunction").await, None);
    assert!(
        !Path::new(&format!("/proc/{cold}")).exists(),
        "the process is gone after shutdown"
    );
}

#[tokio::test]
async fn a_function_gets_only_the_template_environment_and_fails_at_init_without_it() {
    let lambda = start_lambda(None).await;
    // No TABLE_NAME: Config::from_env fails in main, before the runtime asks for an event.
    lambda
        .add(record_audit(&[("AWS_EC2_METADATA_DISABLED", "true")]))
        .await;

    let error = lambda
        .invoke("RecordAuditFunction", poison_batch("m-1"), None)
        .await
        .unwrap_err();
    let InvokeError::InitFailed {
        error_type,
        error_message,
    } = &error
    else {
        panic!("expected an init failure, got {error:?}");
    };
    assert_eq!(error_type, "Runtime.ExitError");
    assert!(
        error_message.contains("exit status: 1") && error_message.contains("TABLE_NAME"),
        "the exit status and the function's own message: {error_message}"
    );
    assert_eq!(lambda.pid("RecordAuditFunction").await, None);
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_process_gets_the_template_environment_and_lambdas_variables_and_nothing_else() {
    let lambda = start_lambda(None).await;
    lambda
        .add(function(
            "Inspect",
            bash_runtime(),
            &[("TABLE_NAME", "orders")],
            Duration::from_secs(10),
        ))
        .await;
    let response = lambda
        .invoke("Inspect", br#"{"environment": true}"#.to_vec(), None)
        .await
        .unwrap();
    let mut variables: BTreeMap<String, String> = serde_json::from_slice::<Vec<String>>(&response)
        .unwrap()
        .into_iter()
        .filter_map(|variable| {
            let (name, value) = variable.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect();
    // Bash exports these itself.
    for own in ["PWD", "OLDPWD", "SHLVL", "_"] {
        variables.remove(own);
    }

    let names: Vec<&str> = variables.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "AWS_DEFAULT_REGION",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_INITIALIZATION_TYPE",
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "AWS_LAMBDA_RUNTIME_API",
            "AWS_REGION",
            "LAMBDA_TASK_ROOT",
            "PATH",
            "TABLE_NAME",
            "TZ",
            "_HANDLER",
        ],
        "nothing from the test's own environment (HOME, CARGO_*) leaks in"
    );
    assert_eq!(variables["TABLE_NAME"], "orders");
    assert_eq!(
        variables["AWS_LAMBDA_RUNTIME_API"],
        format!("http://{}/Inspect", lambda.address())
    );
    assert_eq!(
        variables["AWS_LAMBDA_FUNCTION_NAME"],
        "orders-local-Inspect"
    );
    assert_eq!(variables["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
    assert_eq!(variables["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(
        variables["AWS_LAMBDA_LOG_GROUP_NAME"],
        "/aws/lambda/orders-local-Inspect"
    );
    assert!(variables["AWS_LAMBDA_LOG_STREAM_NAME"].contains("/[$LATEST]"));
    assert_eq!(variables["_HANDLER"], "bootstrap");
    assert_eq!(variables["AWS_REGION"], "us-east-1");
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_timed_out_invocation_kills_its_environment_and_the_next_starts_a_new_one() {
    let lambda = start_lambda(None).await;
    lambda
        .add(function(
            "Sleepy",
            bash_runtime(),
            &[],
            Duration::from_millis(500),
        ))
        .await;
    lambda.warm("Sleepy").await.unwrap();
    let first = lambda.pid("Sleepy").await.unwrap();

    let error = lambda
        .invoke("Sleepy", br#"{"sleep": true}"#.to_vec(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, InvokeError::Timeout(limit) if limit == Duration::from_millis(500)),
        "{error:?}"
    );
    assert_eq!(lambda.pid("Sleepy").await, None, "the environment is gone");

    let response = lambda
        .invoke("Sleepy", br#"{"hello": 1}"#.to_vec(), None)
        .await
        .unwrap();
    assert_eq!(as_json(&response), json!({"hello": 1}));
    let second = lambda.pid("Sleepy").await.unwrap();
    assert_ne!(first, second, "a cold start after the timeout");
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_crash_fails_the_invocation_with_the_exit_status_and_last_stderr_line() {
    let lambda = start_lambda(None).await;
    lambda
        .add(function(
            "Fragile",
            bash_runtime(),
            &[],
            Duration::from_secs(10),
        ))
        .await;

    let error = lambda
        .invoke("Fragile", br#"{"crash": true}"#.to_vec(), None)
        .await
        .unwrap_err();
    let InvokeError::Crashed(report) = &error else {
        panic!("expected a crash, got {error:?}");
    };
    assert!(report.contains("exit status: 3"), "{report}");
    assert!(report.contains("about to crash"), "{report}");

    let response = lambda
        .invoke("Fragile", br#"{"again": true}"#.to_vec(), None)
        .await
        .unwrap();
    assert_eq!(as_json(&response), json!({"again": true}));
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_handler_error_is_reported_and_the_environment_stays_warm() {
    let lambda = start_lambda(None).await;
    lambda
        .add(function(
            "Failing",
            bash_runtime(),
            &[],
            Duration::from_secs(10),
        ))
        .await;

    let error = lambda
        .invoke("Failing", br#"{"fail": true}"#.to_vec(), None)
        .await
        .unwrap_err();
    let InvokeError::FunctionError {
        error_type,
        error_message,
    } = &error
    else {
        panic!("expected a function error, got {error:?}");
    };
    assert_eq!(
        (error_type.as_str(), error_message.as_str()),
        ("Boom", "it failed")
    );
    let pid = lambda.pid("Failing").await.expect("still warm");

    lambda
        .invoke("Failing", br#"{"ok": true}"#.to_vec(), None)
        .await
        .unwrap();
    assert_eq!(lambda.pid("Failing").await, Some(pid));
    lambda.shutdown().await;
}

#[tokio::test]
async fn concurrent_invocations_take_turns_in_one_environment() {
    let lambda = start_lambda(None).await;
    lambda
        .add(function(
            "Echo",
            bash_runtime(),
            &[],
            Duration::from_secs(1),
        ))
        .await;

    // All at once, on a cold function: one process, one invocation at a time. Each takes 0.4 s
    // of its 1 s timeout; the last waits 1.2 s in the queue, which does not count against it.
    let invocations: Vec<_> = (0..4)
        .map(|n| {
            let lambda = lambda.clone();
            tokio::spawn(async move {
                let payload = json!({ "pid": n, "nap": true }).to_string().into_bytes();
                as_json(&lambda.invoke("Echo", payload, None).await.unwrap())
            })
        })
        .collect();
    let mut pids = Vec::new();
    for (n, invocation) in invocations.into_iter().enumerate() {
        let response = invocation.await.unwrap();
        assert_eq!(
            response["event"],
            json!({ "pid": n, "nap": true }),
            "each caller gets its own answer"
        );
        pids.push(response["pid"].as_u64().unwrap());
    }
    pids.dedup();
    assert_eq!(pids.len(), 1, "one execution environment: {pids:?}");
    assert_eq!(lambda.pid("Echo").await.map(u64::from), Some(pids[0]));
    lambda.shutdown().await;
}

#[tokio::test]
async fn an_unknown_function_is_an_error() {
    let lambda = start_lambda(None).await;
    let error = lambda
        .invoke("Nothing", b"{}".to_vec(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, InvokeError::UnknownFunction(name) if name == "Nothing"),
        "{error:?}"
    );
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_log_directory_gets_the_output_and_lambdas_report_lines() {
    let directory = std::env::temp_dir().join(format!(
        "orders-local-logs-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let lambda = LambdaService::start(
        ANY_PORT.parse().unwrap(),
        LogOutput::Directory(directory.clone()),
        None,
    )
    .await
    .unwrap();
    lambda
        .add(function(
            "Logged",
            bash_runtime(),
            &[],
            Duration::from_secs(10),
        ))
        .await;
    lambda.invoke("Logged", b"{}".to_vec(), None).await.unwrap();
    lambda.shutdown().await;

    let log = std::fs::read_to_string(directory.join("Logged.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let position = |prefix: &str| {
        lines
            .iter()
            .position(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line in:\n{log}"))
    };
    assert!(position("INIT_START") < position("START RequestId:"));
    assert!(position("START RequestId:") < position("handling "));
    assert!(position("handling ") < position("END RequestId:"));
    let report = lines[position("REPORT RequestId:")];
    assert!(
        report.contains("Billed Duration:") && report.contains("Init Duration:"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(directory);
}

/// A fake X-Ray daemon: a UDP socket that checks the protocol and keeps every document.
struct FakeDaemon {
    socket: UdpSocket,
    received: Vec<Value>,
}

impl FakeDaemon {
    async fn start() -> Self {
        let socket = UdpSocket::bind(ANY_PORT).await.unwrap();
        Self {
            socket,
            received: Vec::new(),
        }
    }

    fn address(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// The first document, received so far or later, that `wanted` accepts. Each datagram must
    /// be the daemon protocol's header line, then one JSON document.
    async fn document(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        let mut buffer = vec![0; 65_536];
        let receive = async {
            loop {
                if let Some(document) = self.received.iter().find(|document| wanted(document)) {
                    return document.clone();
                }
                let (length, _) = self.socket.recv_from(&mut buffer).await.unwrap();
                let datagram = String::from_utf8_lossy(&buffer[..length]).into_owned();
                let (header, document) = datagram.split_once('\n').expect("a header line");
                assert_eq!(
                    as_json(header.as_bytes()),
                    json!({"format": "json", "version": 1})
                );
                self.received.push(as_json(document.as_bytes()));
            }
        };
        match tokio::time::timeout(Duration::from_secs(20), receive).await {
            Ok(document) => document,
            Err(_) => panic!(
                "no such document reached the daemon; it received {:#?}",
                self.received
            ),
        }
    }
}

fn is_hex_id(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|id| id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()))
}

#[tokio::test]
async fn lambda_records_its_function_segment_and_the_function_nests_under_it() {
    let mut daemon = FakeDaemon::start().await;
    let lambda = start_lambda(Some(daemon.address())).await;
    lambda.add(record_audit(RECORD_AUDIT_ENVIRONMENT)).await;

    // A fresh root: X-Ray refuses trace ids more than 30 days old, and so does the exporter.
    let root = TraceHeader::new_sampled().root;
    let caller = format!("Root={root};Parent={CALLER_SEGMENT};Sampled=1");
    lambda
        .invoke("RecordAuditFunction", poison_batch("m-1"), Some(caller))
        .await
        .unwrap();

    let segment = daemon
        .document(|document| document["origin"] == "AWS::Lambda::Function")
        .await;
    assert_eq!(segment["name"], "orders-local-RecordAuditFunction");
    assert_eq!(segment["trace_id"], root.as_str());
    assert_eq!(segment["parent_id"], CALLER_SEGMENT);
    assert!(is_hex_id(&segment["id"]));
    assert!(segment.get("type").is_none(), "a segment, not a subsegment");
    assert!(segment.get("fault").is_none());
    assert!(segment["start_time"].as_f64().unwrap() <= segment["end_time"].as_f64().unwrap());
    let phases: Vec<&str> = segment["subsegments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|phase| phase["name"].as_str())
        .collect();
    assert_eq!(phases, ["Initialization", "Invocation"], "a cold start");

    // The function's own subsegments name Lambda's segment as their parent.
    let segment_id = segment["id"].clone();
    let nested = daemon
        .document(|document| document["parent_id"] == segment_id)
        .await;
    assert_eq!(nested["trace_id"], root.as_str());
    lambda.shutdown().await;
}

/// A minimal HTTP/1.1 client: status, headers (lower-case names) and body of one request.
async fn http(
    address: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, HashMap<String, String>, Vec<u8>) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: test\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = response[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers, body)
}

async fn http_get(address: SocketAddr, target: &str) -> (u16, HashMap<String, String>, Vec<u8>) {
    http(address, "GET", target, &[], b"").await
}

#[tokio::test]
async fn api_gateway_answers_failed_invocations_and_oversized_requests_as_aws_does() {
    let lambda = start_lambda(None).await;
    // The bash runtime echoes the proxy event back: JSON, but not a proxy response.
    lambda
        .add(function(
            "EchoFunction",
            bash_runtime(),
            &[],
            Duration::from_millis(500),
        ))
        .await;
    let routes = vec![Route {
        method: "ANY".to_owned(),
        path: "/echo".to_owned(),
        function: "EchoFunction".to_owned(),
        access: Access::default(),
    }];
    let api = ApiGateway::serve(
        ANY_PORT.parse().unwrap(),
        ApiSettings::open("OrdersApi", "dev", routes),
        lambda.clone(),
        None,
    )
    .await
    .unwrap();
    let internal_error = json!({"message": "Internal server error"});

    let (status, _, body) = http_get(api.address(), "/echo").await;
    assert_eq!(
        (status, as_json(&body)),
        (502, internal_error.clone()),
        "malformed"
    );

    let (status, _, body) = http(
        api.address(),
        "POST",
        "/echo",
        &[("Content-Length", "5")],
        b"crash",
    )
    .await;
    assert_eq!(
        (status, as_json(&body)),
        (502, internal_error.clone()),
        "crashed"
    );

    // Exam: a Lambda timeout is a failed invocation (502); 504 is API Gateway's own 29 s limit.
    let (status, _, body) = http(
        api.address(),
        "POST",
        "/echo",
        &[("Content-Length", "5")],
        b"sleep",
    )
    .await;
    assert_eq!((status, as_json(&body)), (502, internal_error), "timed out");

    let oversized = (10 * 1024 * 1024 + 1).to_string();
    let (status, _, body) = http(
        api.address(),
        "POST",
        "/echo",
        &[("Content-Length", oversized.as_str())],
        b"",
    )
    .await;
    assert_eq!(
        (status, as_json(&body)),
        (413, json!({"message": "Request Too Long"}))
    );

    api.shutdown().await;
    lambda.shutdown().await;
}

#[tokio::test]
async fn api_gateway_checks_the_token_routes_to_get_order_and_answers_403_without_a_route() {
    let mut daemon = FakeDaemon::start().await;
    let daemon_address = daemon.address();
    let lambda = start_lambda(Some(daemon_address)).await;
    lambda
        .add(function(
            "GetOrderFunction",
            function_binary("get-order"),
            RECORD_AUDIT_ENVIRONMENT,
            Duration::from_secs(30),
        ))
        .await;
    let routes = vec![
        Route {
            method: "GET".to_owned(),
            path: "/orders/{orderId}".to_owned(),
            function: "GetOrderFunction".to_owned(),
            access: Access {
                authorizer: Some(support::tokens::test_authorizer()),
                api_key_required: false,
            },
        },
        // The same function on a method that lost its authorizer (a misconfiguration).
        Route {
            method: "GET".to_owned(),
            path: "/open/{orderId}".to_owned(),
            function: "GetOrderFunction".to_owned(),
            access: Access::default(),
        },
    ];
    let api = ApiGateway::serve(
        ANY_PORT.parse().unwrap(),
        ApiSettings::open("OrdersApi", "dev", routes),
        lambda.clone(),
        Some(daemon_address),
    )
    .await
    .unwrap();

    // No token: API Gateway's 401, and the function never runs.
    let (status, _, body) = http_get(api.address(), "/orders/not-a-uuid").await;
    assert_eq!(
        (status, as_json(&body)),
        (401, json!({"message": "Unauthorized"}))
    );
    // No authorizer on the method: the function itself refuses a request without claims.
    let (status, _, body) = http_get(api.address(), "/open/not-a-uuid").await;
    assert_eq!(status, 401);
    assert_eq!(as_json(&body)["error"]["code"], "Unauthorized");

    // get-order refuses an id that is not a UUID before any AWS call: its own 404.
    let token = support::tokens::id_token("c-1");
    let authorization = [("Authorization", token.as_str())];
    let (status, headers, body) = http(
        api.address(),
        "GET",
        "/orders/not-a-uuid",
        &authorization,
        b"",
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(as_json(&body)["error"]["code"], "OrderNotFound");
    assert!(headers.contains_key("x-amzn-requestid"));
    let trace = headers["x-amzn-trace-id"].clone();
    assert!(trace.starts_with("Root=1-"), "{trace}");

    // The query string reaches the function: an invalid `consistent` is its 400.
    let (status, _, body) = http(
        api.address(),
        "GET",
        "/orders/0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e?consistent=maybe",
        &authorization,
        b"",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(as_json(&body)["error"]["code"], "BadRequest");

    let (status, _, body) = http_get(api.address(), "/customers").await;
    assert_eq!(status, 403);
    assert_eq!(
        as_json(&body),
        json!({"message": "Missing Authentication Token"})
    );

    // The first request's trace: API Gateway's segment, then Lambda's under it.
    let root = trace
        .trim_start_matches("Root=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let stage = daemon
        .document(|document| {
            document["origin"] == "AWS::ApiGateway::Stage" && document["trace_id"] == root.as_str()
        })
        .await;
    assert_eq!(stage["name"], "OrdersApi/dev");
    assert_eq!(stage["http"]["request"]["method"], "GET");
    assert_eq!(stage["http"]["response"]["status"], 404);
    assert_eq!(stage["error"], true, "a 4xx is an error");
    assert_eq!(stage["fault"], false);
    let function = daemon
        .document(|document| {
            document["origin"] == "AWS::Lambda::Function" && document["trace_id"] == root.as_str()
        })
        .await;
    assert_eq!(function["parent_id"], stage["id"]);

    api.shutdown().await;
    lambda.shutdown().await;
}

/// A card number whose digits do not repeat much, so any run of six of them is easy to spot.
const CARD: &str = "4539148803436467";

#[tokio::test]
async fn create_order_at_the_trace_log_level_prints_no_card_token_or_api_key() {
    // The real binary under the Runtime API, as Lambda runs it with ApplicationLogLevel TRACE (the
    // most the template's LogLevel allows): everything it prints goes to one file.
    let logs = std::env::temp_dir().join(format!("orders-trace-logs-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let lambda = LambdaService::start(
        ANY_PORT.parse().unwrap(),
        LogOutput::Directory(logs.clone()),
        None,
    )
    .await
    .unwrap();
    lambda
        .add(function(
            "CreateOrderFunction",
            function_binary("create-order"),
            &[
                ("TABLE_NAME", "orders"),
                ("PAYMENT_KEY_ID", "alias/orders-local"),
                ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                // Nothing listens there: the KMS call fails, and the failure is logged too.
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
            Duration::from_secs(30),
        ))
        .await;
    // The sample event as API Gateway sends it: the token, the key, and a card in the body.
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(support::stack::workspace_root().join("events/create-order.json"))
            .unwrap(),
    )
    .unwrap();
    let token = event["headers"]["Authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    let api_key = event["headers"]["x-api-key"].as_str().unwrap().to_owned();
    event["body"] = json!(
        event["body"]
            .as_str()
            .unwrap()
            .replace("4111 1111 1111 1111", CARD)
    );
    event["headers"]
        .as_object_mut()
        .unwrap()
        .remove("Idempotency-Key");
    event["multiValueHeaders"]
        .as_object_mut()
        .unwrap()
        .remove("Idempotency-Key");
    let answer = lambda
        .invoke("CreateOrderFunction", event.to_string().into_bytes(), None)
        .await
        .expect("create-order answers");
    let status = as_json(&answer)["statusCode"].as_u64();
    assert!(
        status.is_some_and(|status| status >= 500),
        "KMS is unreachable: {}",
        String::from_utf8_lossy(&answer)
    );
    lambda.shutdown().await;

    let printed = std::fs::read_to_string(logs.join("CreateOrderFunction.log")).unwrap();
    assert!(
        printed.contains("\"level\":\"TRACE\""),
        "the function logged at TRACE:\n{printed}"
    );
    for window in CARD.as_bytes().windows(6) {
        let run = std::str::from_utf8(window).unwrap();
        assert!(!printed.contains(run), "card digits {run} in the logs");
    }
    for (secret, what) in [
        (token.as_str(), "the ID token"),
        (api_key.as_str(), "the API key"),
    ] {
        assert!(!printed.contains(secret), "{what} in the logs");
    }
}
