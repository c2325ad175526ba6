//! The step of API Gateway's throttling (§17 scenario 8): more creates at once than `POST /orders`'
//! token bucket holds; the refused ones get the template's `429` before any function runs, and a
//! client that backs off (exponentially, with jitter) gets every one of them through.
//!
//! The bucket is the template's `MethodSettings` entry for `POST /orders`: 10 a second, burst 20
//! (`api_gateway/throttling.rs`).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::{Answer, Demo, Outcome, expect, new_order, proved, send};

/// Creates sent at once: half as many again as the method's burst, so some are refused even if a
/// few tokens come back (10 a second) while they are sent.
const AT_ONCE: usize = 30;
/// How many times a throttled client sends a request before it gives up.
const ATTEMPTS: u32 = 12;

/// The body of the template's `THROTTLED` gateway response.
fn throttled_body() -> Value {
    json!({"error": {"code": "TooManyRequests", "message": "Too Many Requests"}})
}

impl Demo<'_> {
    pub(super) async fn throttled(&mut self) -> Outcome {
        let run = uuid::Uuid::now_v7();
        let key = |n: usize| format!("demo-burst-{run}-{n}");
        let mut out = format!(
            "  {AT_ONCE} x POST /orders at once, each with its own Idempotency-Key (POST /orders: 10/s, burst 20)\n"
        );
        let answers = self.send_at_once(&key).await?;
        let count = |status: StatusCode| answers.iter().filter(|a| a.status == status).count();
        let (created, throttled) = (
            count(StatusCode::CREATED),
            count(StatusCode::TOO_MANY_REQUESTS),
        );
        let _ = writeln!(
            out,
            "  -> {created} x 201, {throttled} x 429 {}",
            throttled_body()
        );
        let others: Vec<String> = answers
            .iter()
            .filter(|a| ![StatusCode::CREATED, StatusCode::TOO_MANY_REQUESTS].contains(&a.status))
            .map(|a| format!("{} {}", a.status, a.body))
            .collect();
        expect(others.is_empty(), || {
            format!("every answer should be 201 or 429: {others:?}")
        })?;
        expect(created > 0 && throttled > 0, || {
            format!("expected some 201 and some 429, got {created} and {throttled}")
        })?;
        for answer in answers
            .iter()
            .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        {
            expect(answer.body == throttled_body(), || {
                format!("a 429 should carry the THROTTLED body: {}", answer.body)
            })?;
        }

        // Each refused client backs off on its own and sends the same request again.
        let refused: Vec<usize> = (0..AT_ONCE)
            .filter(|&n| answers[n].status == StatusCode::TOO_MANY_REQUESTS)
            .collect();
        let mut retries = JoinSet::new();
        for &n in &refused {
            let (http, url, who, key) = (
                self.http.clone(),
                self.url("/orders"),
                self.customer.clone(),
                key(n),
            );
            retries.spawn(async move {
                let body = new_order(&format!("burst order {n}"));
                let headers = [("idempotency-key", key.as_str())];
                let mut attempt = 0;
                loop {
                    let answer = send(&http, &url, &who, Method::POST, &headers, Some(&body)).await;
                    let throttled =
                        matches!(&answer, Ok(a) if a.status == StatusCode::TOO_MANY_REQUESTS);
                    attempt += 1;
                    if !throttled || attempt >= ATTEMPTS {
                        return answer.map(|answer| (answer, attempt));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
            });
        }
        let mut retried = Vec::new();
        while let Some(joined) = retries.join_next().await {
            retried.push(joined.map_err(|error| format!("a retrying client: {error}"))??);
        }
        let most = retried
            .iter()
            .map(|(_, attempts)| *attempts)
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "  the {throttled} refused, each sent again after 0 to 100 ms, 200 ms, 400 ms, ... (full jitter)\n  -> {} x 201, none a replay, in at most {most} attempts",
            retried
                .iter()
                .filter(|(a, _)| a.status == StatusCode::CREATED)
                .count()
        );
        for (answer, attempts) in &retried {
            expect(
                answer.status == StatusCode::CREATED && !answer.replayed,
                || {
                    format!(
                        "a retry should create its order afresh, got {} {} after {attempts} attempts",
                        answer.status, answer.body
                    )
                },
            )?;
        }
        let ids: BTreeSet<&str> = answers
            .iter()
            .chain(retried.iter().map(|(answer, _)| answer))
            .filter_map(|a| a.body["orderId"].as_str())
            .collect();
        expect(ids.len() == AT_ONCE, || {
            format!("expected {AT_ONCE} distinct orders, got {}", ids.len())
        })?;
        proved(
            out,
            "API Gateway's token bucket let the burst through and refused the rest with 429 before any function ran (no order, no idempotency record); a 429 is worth retrying, and exponential backoff with jitter spread the retries over the refill rate until all were created",
        )
    }

    /// `AT_ONCE` creates, each a task of its own, started together; the answers in request order.
    async fn send_at_once(&self, key: &dyn Fn(usize) -> String) -> Result<Vec<Answer>, String> {
        let mut tasks = JoinSet::new();
        for n in 0..AT_ONCE {
            let (http, url, who, key) = (
                self.http.clone(),
                self.url("/orders"),
                self.customer.clone(),
                key(n),
            );
            tasks.spawn(async move {
                let body = new_order(&format!("burst order {n}"));
                let headers = [("idempotency-key", key.as_str())];
                let answer = send(&http, &url, &who, Method::POST, &headers, Some(&body)).await;
                (n, answer)
            });
        }
        let mut answers: Vec<Option<Answer>> = (0..AT_ONCE).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            let (n, answer) = joined.map_err(|error| format!("a request task: {error}"))?;
            answers[n] = Some(answer?);
        }
        Ok(answers.into_iter().flatten().collect())
    }
}

/// Exam: exponential backoff with jitter. The pause before attempt `attempt + 1`: a random time
/// between 0 and 100 ms doubled `attempt - 1` times (at most 3.2 s), so clients refused together
/// do not all come back together.
fn backoff(attempt: u32) -> Duration {
    let ceiling_ms = 100u64 << (attempt - 1).min(5);
    // Random enough for a pause: the bits of a v4 UUID.
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    Duration::from_millis(random % (ceiling_ms + 1))
}
