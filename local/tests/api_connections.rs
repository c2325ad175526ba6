//! The local API Gateway keeps a client's connection usable after refusing a request that had a
//! body, as API Gateway does: it reads a whole request before it answers, refusals included.
//!
//! An HTTP/1.1 server that answers before reading the body cannot reuse the connection (the
//! unread bytes would be taken for the next request), so it closes it after the answer; a client
//! that pooled the connection finds it closed on its next request (`IncompleteMessage`, a
//! broken pipe). The fuzz test (`fuzz.rs`) found this: a refused `POST` with a body, then any
//! request on the same connection, failed now and then.

use std::time::Duration;

use orders_local::api_gateway::{Access, ApiGateway, ApiSettings, Route};
use orders_local::lambda::{LambdaService, LogOutput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ANY_PORT: &str = "127.0.0.1:0";

/// Reads one response with a `content-length` from `stream`: its status line.
async fn read_response(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.ok()?;
    head.lines().next().map(str::to_owned)
}

#[tokio::test]
async fn a_refused_request_with_a_body_leaves_the_connection_usable() {
    let lambda = LambdaService::start(ANY_PORT.parse().unwrap(), LogOutput::Discard, None)
        .await
        .unwrap();
    // A method that needs an API key; no function runs for a refused request.
    let routes = vec![Route {
        method: "POST".to_owned(),
        path: "/orders".to_owned(),
        function: "NoFunction".to_owned(),
        access: Access {
            authorizer: None,
            api_key_required: true,
        },
    }];
    let api = ApiGateway::serve(
        ANY_PORT.parse().unwrap(),
        ApiSettings::open("OrdersApi", "dev", routes),
        lambda.clone(),
        None,
    )
    .await
    .unwrap();

    let body = vec![b'x'; 200 * 1024];
    let mut stream = TcpStream::connect(api.address()).await.unwrap();
    for (case, target) in [("no API key", "/orders"), ("no route", "/nowhere")] {
        let head = format!(
            "POST {target} HTTP/1.1\r\nHost: api\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        let status = read_response(&mut stream).await;
        assert!(
            status.as_deref().is_some_and(|s| s.contains(" 403 ")),
            "{case}: {status:?}"
        );
    }
    // The same connection still answers.
    stream
        .write_all(b"GET /nowhere HTTP/1.1\r\nHost: api\r\n\r\n")
        .await
        .unwrap();
    let status = read_response(&mut stream).await;
    assert!(
        status.as_deref().is_some_and(|s| s.contains(" 403 ")),
        "after two refused requests with bodies: {status:?}"
    );

    api.shutdown().await;
    lambda.shutdown().await;
}
