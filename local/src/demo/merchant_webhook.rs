//! The step of the merchant's webhook: SNS invokes `notify-merchant` asynchronously; a signed
//! notification reaches the merchant once; while the merchant is down, Lambda tries the event 3
//! times and then sends its record to the on-failure destination (scenario 11).
//!
//! The merchant is the stack's receiver ([`crate::merchant_webhook`]), driven through its local
//! control API: `GET /received` for what arrived, `PUT` and `DELETE /outage` for the outage.

use std::fmt::Write as _;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{Demo, Outcome, expect, new_order, proved};
use crate::stack::WEBHOOK_URL_PARAMETER;

/// The on-failure destination of `notify-merchant`'s `EventInvokeConfig`.
const FAILURES: &str = "MerchantNotificationFailureQueue";

impl Demo<'_> {
    pub(super) async fn merchant_webhook(&mut self) -> Outcome {
        let merchant = self.stack.merchant().ok_or_else(|| {
            format!(
                "the stack started no merchant receiver: {WEBHOOK_URL_PARAMETER} was given, so notify-merchant calls that URL (run the demo without it)"
            )
        })?;
        let base = merchant.base_url();
        let mut out = String::new();
        self.outage(&base, false).await?;
        let id = self.merchant_told_once(&base, &mut out).await?;

        let _ = writeln!(out, "  PUT {base}/outage   (the merchant is down: 503)");
        self.outage(&base, true).await?;
        let given_up = self.merchant_down(&base, &id, &mut out).await;
        // The outage ends whatever happened.
        self.outage(&base, false).await?;
        let _ = writeln!(out, "  DELETE {base}/outage");
        given_up?;
        proved(
            out,
            "SNS's part ends when Lambda has queued the event; a function error makes Lambda retry the event twice (3 attempts, each with the same Orders-Event-Id) and then send the on-failure destination its record, the event included, to be redriven once the merchant is back",
        )
    }

    /// Places an order and waits until the merchant has its `OrderConfirmed`, signed, once.
    async fn merchant_told_once(&self, base: &str, out: &mut String) -> Result<String, String> {
        let (_, id) = self
            .place_order(&[], &new_order("for the merchant"))
            .await?;
        let _ = writeln!(out, "  POST /orders -> 201, order {id}");

        // Exam: the OrderConfirmed event passes notify-merchant's filter policy (OrderPlaced does
        // not); SNS invokes the function asynchronously, which POSTs it, signed, to the webhook.
        let is_confirmation = |arrival: &Value| {
            arrival["orderId"] == id.as_str() && arrival["eventType"] == "OrderConfirmed"
        };
        let arrival = self
            .wait_for(Duration::from_secs(60), || async {
                let arrivals = self.merchant_arrivals(base).await?;
                Ok(arrivals
                    .into_iter()
                    .find(|arrival| is_confirmation(arrival) && arrival["verdict"] == "delivered"))
            })
            .await
            .map_err(|error| {
                format!("the merchant never received OrderConfirmed of {id}: {error}")
            })?;
        let arrivals = self.merchant_arrivals(base).await?;
        let of_order: Vec<&Value> = arrivals
            .iter()
            .filter(|arrival| arrival["orderId"] == id.as_str())
            .collect();
        let _ = writeln!(
            out,
            "  merchant received OrderConfirmed order {id} event {}: signature ok (HMAC-SHA256, the key from Secrets Manager) -> 200; the order's arrivals: {}",
            arrival["eventId"].as_str().unwrap_or_default(),
            of_order.len()
        );
        expect(of_order.len() == 1, || {
            format!(
                "the merchant should receive OrderConfirmed of {id} once, signed, and no OrderPlaced: {of_order:?}"
            )
        })?;
        let _ = writeln!(
            out,
            "  proves: only the filter policy's events reach notify-merchant; the signature the merchant checked proves the key, read from Secrets Manager at init, is the one both sides share"
        );
        Ok(id)
    }

    /// Cancels order `id` while the merchant is down; checks the 3 attempts and the record.
    async fn merchant_down(&self, base: &str, id: &str, out: &mut String) -> Result<(), String> {
        let path = format!("/orders/{id}");
        let read = self
            .call(Method::GET, &format!("{path}?consistent=true"), &[], None)
            .await?;
        let etag = read.etag.clone().unwrap_or_default();
        let if_match = [("if-match", etag.as_str())];
        let cancel = self
            .call(Method::POST, &format!("{path}/cancel"), &if_match, None)
            .await?;
        let _ = writeln!(
            out,
            "  POST {path}/cancel If-Match: {etag} -> {} status {}",
            cancel.status, cancel.body["status"]
        );
        expect(
            cancel.status == StatusCode::OK && cancel.body["status"] == "CANCELLED",
            || {
                format!(
                    "a CONFIRMED order should be cancelled: {} {}",
                    cancel.status, cancel.body
                )
            },
        )?;

        // Each 503 fails the invocation; Lambda tries again after about 1 and 2 minutes on AWS
        // (1 and 2 s here), then gives up and sends the record to the destination.
        let record = self
            .invocation_record(FAILURES, |record| {
                let event = sns_message(record);
                event["orderId"] == id && event["eventType"] == "OrderCancelled"
            })
            .await?;
        let event_id = sns_message(&record)["eventId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let refused = self
            .merchant_arrivals(base)
            .await?
            .iter()
            .filter(|arrival| arrival["eventId"] == event_id.as_str())
            .map(|arrival| arrival["status"].as_u64().unwrap_or_default())
            .collect::<Vec<_>>();
        let _ = writeln!(
            out,
            "  merchant answered OrderCancelled event {event_id}: {refused:?} (one answer per attempt)"
        );
        let context = &record["requestContext"];
        let _ = writeln!(
            out,
            "  {FAILURES} received Lambda's invocation record: condition {}, approximateInvokeCount {}, error {}",
            context["condition"],
            context["approximateInvokeCount"],
            record["responsePayload"]["errorMessage"]
        );
        expect(refused == [503, 503, 503], || {
            format!("the notification should be tried 3 times, each answered 503: {refused:?}")
        })?;
        expect(
            context["condition"] == "RetriesExhausted" && context["approximateInvokeCount"] == 3,
            || format!("the record should say 3 attempts, then RetriesExhausted: {record}"),
        )
    }

    /// Turns the merchant's simulated outage on or off (`PUT` or `DELETE /outage`).
    async fn outage(&self, base: &str, on: bool) -> Result<(), String> {
        let method = if on { Method::PUT } else { Method::DELETE };
        let answer = self
            .http
            .request(method.clone(), format!("{base}/outage"))
            .send()
            .await
            .map_err(|error| format!("{method} /outage: {error}"))?;
        expect(answer.status().is_success(), || {
            format!("{method} /outage answered {}", answer.status())
        })
    }

    /// What arrived at the merchant so far (`GET /received`).
    async fn merchant_arrivals(&self, base: &str) -> Result<Vec<Value>, String> {
        let listed: Value = self
            .http
            .get(format!("{base}/received"))
            .send()
            .await
            .and_then(|answer| answer.error_for_status())
            .map_err(|error| format!("GET /received: {error}"))?
            .json()
            .await
            .map_err(|error| format!("GET /received: {error}"))?;
        Ok(listed["arrivals"].as_array().cloned().unwrap_or_default())
    }
}

/// The order event inside an invocation record: its request payload is the SNS event, whose
/// message is the event's JSON, as text.
fn sns_message(record: &Value) -> Value {
    record["requestPayload"]["Records"][0]["Sns"]["Message"]
        .as_str()
        .and_then(|message| serde_json::from_str(message).ok())
        .unwrap_or(Value::Null)
}
