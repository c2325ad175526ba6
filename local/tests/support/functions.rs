//! Functions for the local Lambda service: real binaries of this workspace (built once per test
//! run) and a custom runtime in bash for what a real function cannot be made to do on demand
//! (hang, crash, report an error): a custom runtime needs nothing more than HTTP. Also the X-Ray
//! stand-in's wait for a document, and a raw HTTP/1.1 client for the local API Gateway.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use orders_local::lambda::{FunctionProcess, LambdaService, LogOutput};
use orders_local::xray::LocalXrayDaemon;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const ANY_PORT: &str = "127.0.0.1:0";

/// The executable of a function crate, built once per test run (`cargo build`, debug profile).
pub fn function_binary(package: &str) -> PathBuf {
    static BINARIES: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    let binaries = BINARIES.get_or_init(|| {
        super::stack::build_binaries(&["record-audit", "get-order", "create-order"])
    });
    binaries
        .get(package)
        .unwrap_or_else(|| panic!("cargo built no binary {package}"))
        .clone()
}

/// A custom runtime in bash: echoes each event back (after 0.4 s if it contains `nap`), except
/// that an event containing `sleep` hangs, `crash` exits mid-invocation, `fail` reports a handler error, `pid` is answered with
/// `{"pid": <its process id>, "event": <the event>}`, `{"hold": "<path>"}` the same once a file
/// exists at `<path>` (so a test decides when it ends), `{"marker": "<path>"}` fails while no file
/// is at `<path>` (creating it as it fails) and answers once it exists (a function that succeeds
/// on its second attempt), and `environment` with the process's exported variables
/// (`["NAME=value", ...]`). With `EVENTS_TO` in its environment, it first appends each event,
/// one line each, to the file that names.
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
  [ -n "$EVENTS_TO" ] && printf '%s\n' "$event" >> "$EVENTS_TO"
  case "$event" in *nap*) sleep 0.4 ;; esac
  case "$event" in
    *marker*)
      file=${event#*\"marker\":\"}; file=${file%%\"*}
      if [ -e "$file" ]; then
        request POST "invocation/$id/response" "$event"
      else
        : > "$file"
        request POST "invocation/$id/error" '{"errorType":"NotYet","errorMessage":"first attempt"}'
      fi ;;
    *sleep*) sleep 60 ;;
    *crash*) echo "about to crash" >&2; exit 3 ;;
    *fail*) request POST "invocation/$id/error" '{"errorType":"Boom","errorMessage":"it failed"}' ;;
    *hold*)
      file=${event#*\"hold\":\"}; file=${file%%\"*}
      while [ ! -e "$file" ]; do sleep 0.05; done
      request POST "invocation/$id/response" "{\"pid\":$$,\"event\":$event}" ;;
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

pub fn bash_runtime() -> PathBuf {
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

pub fn function(
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
        reserved_concurrency: None,
    }
}

/// What the template gives record-audit, minus the AWS endpoint it never reaches in these tests.
pub const RECORD_AUDIT_ENVIRONMENT: &[(&str, &str)] = &[
    ("TABLE_NAME", "orders"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

pub fn record_audit(environment: &[(&str, &str)]) -> FunctionProcess {
    function(
        "RecordAuditFunction",
        function_binary("record-audit"),
        environment,
        Duration::from_secs(30),
    )
}

/// An SQS batch of one message whose body is not an order event: record-audit reports it as a
/// failed item without calling AWS.
pub fn poison_batch(message_id: &str) -> Vec<u8> {
    json!({"Records": [{"messageId": message_id, "body": "not an order event"}]})
        .to_string()
        .into_bytes()
}

pub fn batch_failure(message_id: &str) -> Value {
    json!({"batchItemFailures": [{"itemIdentifier": message_id}]})
}

/// A function on the bash runtime, with no environment of its own.
pub fn bash_function(name: &str, timeout: Duration) -> FunctionProcess {
    function(name, bash_runtime(), &[], timeout)
}

/// The local Lambda service on a free port, its functions' output discarded; with an X-Ray
/// daemon address, it sends its segments there.
pub async fn start_lambda(xray_daemon: Option<SocketAddr>) -> LambdaService {
    LambdaService::start(ANY_PORT.parse().unwrap(), LogOutput::Discard, xray_daemon)
        .await
        .expect("the Runtime API starts")
}

/// [`start_lambda`] without X-Ray, with `function` added (its process starts on first use).
pub async fn start_lambda_with(function: FunctionProcess) -> LambdaService {
    let lambda = start_lambda(None).await;
    lambda.add(function).await;
    lambda
}

/// The local Lambda service on a free port, without X-Ray, writing each function's output (and
/// Lambda's own lines about it) to `<directory>/<function>.log`.
pub async fn start_lambda_logging_to(directory: PathBuf) -> LambdaService {
    LambdaService::start(
        ANY_PORT.parse().unwrap(),
        LogOutput::Directory(directory),
        None,
    )
    .await
    .expect("the Runtime API starts")
}

pub fn as_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| panic!("not JSON: {bytes:?}"))
}

/// The first document the X-Ray stand-in has received, or receives within 20 s, that `wanted`
/// accepts. The stand-in keeps only datagrams in the daemon's protocol (its header line, then one
/// JSON document), so a document sent any other way is never found.
pub async fn xray_document(daemon: &LocalXrayDaemon, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let received: Vec<Value> = daemon
            .trace_ids()
            .iter()
            .flat_map(|trace_id| daemon.documents(trace_id))
            .collect();
        if let Some(document) = received.iter().find(|document| wanted(document)) {
            return document.clone();
        }
        if tokio::time::Instant::now() > deadline {
            panic!("no such document reached the daemon; it received {received:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A stand-in X-Ray daemon on a free port that keeps what it receives (and prints nothing).
pub async fn start_xray_daemon() -> LocalXrayDaemon {
    LocalXrayDaemon::start(ANY_PORT.parse().unwrap(), false)
        .await
        .expect("the X-Ray stand-in listens")
}

/// A minimal HTTP/1.1 client: status, headers (lower-case names) and body of one request.
pub async fn http(
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

/// A `GET` of `target` with `headers` (none, or a token), through [`http`].
pub async fn http_get(
    address: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, HashMap<String, String>, Vec<u8>) {
    http(address, "GET", target, headers, b"").await
}
