//! The step of API Gateway's two timeouts (scenario 9): the integration timeout that ends first
//! is a 504 (`INTEGRATION_TIMEOUT`), the function's own `Timeout` that ends first is a 502 (a
//! failed invocation). One function, the demo's stand-in, behind two routes of the demo's API.

use std::fmt::Write as _;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::stand_in::stand_in_route;
use super::{Answer, Credentials, Demo, Outcome, expect, proved, send};
use crate::api_gateway::INTEGRATION_TIMEOUT;

/// The stand-in's `Timeout` (1 s, Lambda's least).
const SLOW_FUNCTION: &str = "SlowStandInFunction";
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(1);
/// A route with `TimeoutInMillis: 500`, and one with the default.
const SHORT_WAIT: &str = "/wait-500ms";
const DEFAULT_WAIT: &str = "/wait-29s";
const SHORT_INTEGRATION_TIMEOUT: Duration = Duration::from_millis(500);

impl Demo<'_> {
    pub(super) async fn integration_timeout(&mut self) -> Outcome {
        self.add_stand_in(SLOW_FUNCTION, FUNCTION_TIMEOUT, None)
            .await?;
        let api = self
            .serve_stand_in_api(vec![
                stand_in_route(SHORT_WAIT, SLOW_FUNCTION, SHORT_INTEGRATION_TIMEOUT),
                stand_in_route(DEFAULT_WAIT, SLOW_FUNCTION, INTEGRATION_TIMEOUT),
            ])
            .await?;
        // The cold start counts against the integration timeout too: start it before the clock.
        self.stack
            .lambda()
            .warm(SLOW_FUNCTION)
            .await
            .map_err(|error| format!("{SLOW_FUNCTION} did not start: {error}"))?;
        let base = format!("http://{}", api.address());
        let outcome = self.both_timeouts(&base).await;
        api.shutdown().await;
        outcome
    }

    async fn both_timeouts(&self, base: &str) -> Outcome {
        let mut out = format!(
            "  {SLOW_FUNCTION} (the demo's stand-in: sleeps ?ms=N) has Timeout {} s; the demo's API routes\n  \
             GET {SHORT_WAIT} to it with TimeoutInMillis {} and GET {DEFAULT_WAIT} with the default {} s\n",
            FUNCTION_TIMEOUT.as_secs(),
            SHORT_INTEGRATION_TIMEOUT.as_millis(),
            INTEGRATION_TIMEOUT.as_secs()
        );
        let get = |target: String| async move {
            let answer = send(
                &self.http,
                &format!("{base}{target}"),
                &Credentials::default(),
                Method::GET,
                &[],
                None,
            )
            .await?;
            Ok::<(String, Answer), String>((target, answer))
        };
        let line = |out: &mut String, (target, answer): &(String, Answer)| {
            let _ = writeln!(
                out,
                "  GET {target} -> {} {}",
                answer.status.as_u16(),
                answer.body
            );
        };

        // Both timeouts longer than the work: the function's answer.
        let quick = get(format!("{SHORT_WAIT}?ms=100")).await?;
        line(&mut out, &quick);
        expect(quick.1.status.as_u16() == 200, || {
            format!(
                "100 ms of work within both timeouts should be a 200, got {}",
                quick.1.status
            )
        })?;

        // Exam: the integration timeout ends first: API Gateway stops waiting and answers 504
        // (INTEGRATION_TIMEOUT, the template's gateway response); the function goes on.
        let cut_off = get(format!("{SHORT_WAIT}?ms=800")).await?;
        line(&mut out, &cut_off);
        expect(
            cut_off.1.status.as_u16() == 504 && cut_off.1.body["error"]["code"] == "GatewayTimeout",
            || {
                format!(
                    "800 ms of work behind a 500 ms integration timeout should be the template's INTEGRATION_TIMEOUT response (504 GatewayTimeout), got {} {}",
                    cut_off.1.status, cut_off.1.body
                )
            },
        )?;
        let _ = writeln!(out, "{}", self.outlived(&cut_off.1).await?);

        // Exam: the function's own Timeout ends first: Lambda stops it, a failed invocation,
        // which API Gateway answers 502 (DEFAULT_5XX shapes it: no type of its own).
        let stopped = get(format!("{DEFAULT_WAIT}?ms=2000")).await?;
        line(&mut out, &stopped);
        expect(
            stopped.1.status.as_u16() == 502 && stopped.1.body["error"]["code"] == "InternalError",
            || {
                format!(
                    "2 s of work in a function with a 1 s Timeout should be a 502 (a failed invocation, DEFAULT_5XX's InternalError), got {} {}",
                    stopped.1.status, stopped.1.body
                )
            },
        )?;
        proved(
            out,
            "which timeout ends first decides: API Gateway's integration timeout (50 ms to 29 s, TimeoutInMillis; Regional and private APIs may have more than 29 s through a quota increase) is a 504 INTEGRATION_TIMEOUT while the function runs on; the function's own Timeout (3 s by default, 900 s at most) is a failed invocation, a 502. A function behind API Gateway should time out before the integration does",
        )
    }

    /// The trace of the 504: API Gateway's segment ended at the cut-off, the function's after it.
    async fn outlived(&self, cut_off: &Answer) -> Result<String, String> {
        let root = cut_off
            .trace
            .as_deref()
            .and_then(|header| header.strip_prefix("Root="))
            .and_then(|rest| rest.split(';').next())
            .ok_or_else(|| format!("the 504 carries no X-Amzn-Trace-Id: {:?}", cut_off.trace))?
            .to_owned();
        let xray = self.stack.xray();
        let seconds = |document: &Value| {
            document["end_time"].as_f64().unwrap_or(0.0)
                - document["start_time"].as_f64().unwrap_or(0.0)
        };
        let (stage, function) = self
            .wait_for(Duration::from_secs(5), || async {
                let documents = xray.documents(&root);
                let find = |origin: &str| documents.iter().find(|d| d["origin"] == origin).cloned();
                Ok(find("AWS::ApiGateway::Stage").zip(find("AWS::Lambda::Function")))
            })
            .await
            .map_err(|error| {
                format!("trace {root} lacks the stage's or the function's segment: {error}")
            })?;
        expect(
            function["end_time"].as_f64() > stage["end_time"].as_f64(),
            || format!("the function's segment should end after the stage's: {stage} {function}"),
        )?;
        Ok(format!(
            "  its trace {root}: {} ended after {:.2} s (fault {}), the function's segment after {:.2} s (fault {}): nobody got its answer",
            stage["name"].as_str().unwrap_or_default(),
            seconds(&stage),
            stage["fault"],
            seconds(&function),
            function.get("fault").unwrap_or(&Value::Bool(false)),
        ))
    }
}
