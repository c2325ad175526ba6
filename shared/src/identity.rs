//! Who is calling, and what the caller may do: authentication happens in API Gateway,
//! authorization here.
//!
//! Customers sign in to a Cognito user pool and send its ID token in `Authorization`. API
//! Gateway's user pool authorizer (`OrdersApi`'s `Auth` in `template.yaml`) checks the token before
//! any function runs (signature, issuer, expiry, audience, `token_use: id`) and hands the function
//! the token's claims in `requestContext.authorizer.claims`. [`Caller::of`] is the one place that
//! reads them:
//!
//! - the customer is the token's `sub`: never a body field or query parameter, which a client can
//!   set to anything, while only Cognito can sign a token;
//! - `cognito:groups` names the caller's groups; the [`SUPPORT_GROUP`] may read any order.
//!
//! | request                          | the order's customer | `support`            | anyone else           |
//! |----------------------------------|----------------------|----------------------|-----------------------|
//! | `GET /orders/{id}`               | 200                  | 200                  | 404, as an unknown id |
//! | `PATCH`, `POST .../cancel`       | 200                  | 403                  | 404, as an unknown id |
//! | `GET /orders`                    | their own orders     | `?customerId=C`: C's | their own; `customerId` is 403 |
//!
//! Another customer's order is answered exactly as an unknown one, so order ids cannot be probed.
//! Writes check the owner inside the conditional write itself (`customerId = :caller`, see
//! [`crate::store::locking`]), never with a read first that a concurrent write could outdate.
//!
//! Why a function may trust the claims: only API Gateway may invoke the API functions (the
//! permission SAM adds to each names the API), and it passes only claims of a token it verified. A
//! request with no claims means a method lost its authorizer (a misconfiguration): it is refused
//! with 401 and logged as an error, never served as anonymous.
//!
//! The REST API passes every claim as a string; a list such as `cognito:groups` becomes
//! `"support,vip"`. [`Caller::from_claims`] also reads the JSON array of a hand-written event and
//! the `[support vip]` of an HTTP API's JWT authorizer.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::{Map, Value};

use crate::domain::{CustomerId, Order};
use crate::error::AppError;

/// The Cognito group whose members may read every order (`SupportGroup` in the template).
pub const SUPPORT_GROUP: &str = "support";

/// The signed-in caller of an API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    customer_id: CustomerId,
    groups: Vec<String>,
}

impl Caller {
    /// The caller of `request`, from the claims API Gateway's authorizer put in its context.
    pub fn of(request: &Request) -> Result<Self, AppError> {
        let claims = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV1(context)) => context.authorizer.fields.get("claims"),
            _ => None,
        };
        match claims.and_then(Value::as_object) {
            Some(claims) => Self::from_claims(claims),
            None => {
                tracing::error!(
                    "refused: the request carries no authorizer claims (has the method lost its Cognito authorizer?)"
                );
                Err(AppError::Unauthenticated)
            }
        }
    }

    /// The caller named by a token's claims (`sub`, `cognito:groups`).
    pub fn from_claims(claims: &Map<String, Value>) -> Result<Self, AppError> {
        let customer_id = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|sub| CustomerId::parse(sub).ok())
            .ok_or_else(|| {
                tracing::error!("refused: the authorizer claims have no usable sub");
                AppError::Unauthenticated
            })?;
        let groups = match claims.get("cognito:groups") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(list)) => list
                .trim_matches(|c| c == '[' || c == ']')
                .split([',', ' '])
                .filter(|group| !group.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        Ok(Self {
            customer_id,
            groups,
        })
    }

    /// A caller in no group (tests, and the deployment's smoke requests).
    pub fn customer(customer_id: CustomerId) -> Self {
        Self {
            customer_id,
            groups: Vec::new(),
        }
    }

    /// The customer the caller is: the owner of every order the caller places.
    pub fn customer_id(&self) -> &CustomerId {
        &self.customer_id
    }

    /// A member of the support group.
    pub fn is_support(&self) -> bool {
        self.groups.iter().any(|group| group == SUPPORT_GROUP)
    }

    /// Whether the caller may see `order`: its customer, or support.
    pub fn may_read(&self, order: &Order) -> bool {
        order.customer_id == self.customer_id || self.is_support()
    }

    /// What a failed write on another customer's order is to this caller: support, who may read
    /// the order, learns it may not change it (403); anyone else gets the unknown order's 404.
    pub fn refused_write(&self) -> AppError {
        if self.is_support() {
            AppError::Forbidden("the support group may read any order, but change none")
        } else {
            AppError::NotFound
        }
    }

    /// Whose orders `GET /orders` lists: the caller's own, or, for support only, the customer
    /// named by `?customerId=`.
    pub fn orders_to_list(&self, requested: Option<CustomerId>) -> Result<CustomerId, AppError> {
        match requested {
            None => Ok(self.customer_id.clone()),
            Some(customer) if self.is_support() => Ok(customer),
            Some(_) => Err(AppError::Forbidden(
                "only the support group may list another customer's orders: GET /orders lists yours",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::sample_order;
    use lambda_http::Body;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn customer(id: &str) -> Caller {
        Caller::customer(CustomerId::parse(id).unwrap())
    }

    fn support(id: &str) -> Caller {
        Caller::from_claims(&claims(json!({"sub": id, "cognito:groups": "support"}))).unwrap()
    }

    /// A request as lambda_http parses a REST proxy event whose context is `context`.
    fn request_with_context(context: Value) -> Request {
        let context: ApiGatewayProxyRequestContext = serde_json::from_value(context).unwrap();
        lambda_http::http::Request::builder()
            .body(Body::Empty)
            .unwrap()
            .with_request_context(RequestContext::ApiGatewayV1(context))
    }

    #[test]
    fn the_caller_is_the_tokens_sub_with_its_groups() {
        let request = request_with_context(json!({
            "httpMethod": "GET",
            "authorizer": {"claims": {
                "sub": "7d3a6f0e-1c2b-4e5f-8a9b-0c1d2e3f4a5b",
                "cognito:groups": "support,vip",
                "email": "ada@example.com",
                "token_use": "id",
                "exp": "Sun Nov 29 18:00:00 UTC 2026"
            }}
        }));
        let caller = Caller::of(&request).unwrap();
        assert_eq!(
            caller.customer_id().as_str(),
            "7d3a6f0e-1c2b-4e5f-8a9b-0c1d2e3f4a5b"
        );
        assert_eq!(caller.groups, ["support", "vip"]);
        assert!(caller.is_support());
    }

    #[test]
    fn groups_are_read_in_every_shape_an_event_may_carry_them() {
        for groups in [
            json!("support"),
            json!("vip,support"),
            json!(["vip", "support"]),
            json!("[vip support]"),
        ] {
            let caller =
                Caller::from_claims(&claims(json!({"sub": "c-1", "cognito:groups": groups})))
                    .unwrap();
            assert!(caller.is_support(), "{groups}");
        }
        let plain = Caller::from_claims(&claims(json!({"sub": "c-1"}))).unwrap();
        assert!(!plain.is_support());
        let lookalike = Caller::from_claims(&claims(
            json!({"sub": "c-1", "cognito:groups": "supporters"}),
        ))
        .unwrap();
        assert!(
            !lookalike.is_support(),
            "a group is matched by its whole name"
        );
    }

    #[test]
    fn a_request_without_claims_is_never_served_as_anonymous() {
        let no_context = lambda_http::http::Request::builder()
            .body(Body::Empty)
            .unwrap();
        assert!(matches!(
            Caller::of(&no_context),
            Err(AppError::Unauthenticated)
        ));
        for context in [
            json!({"httpMethod": "GET"}),
            json!({"httpMethod": "GET", "authorizer": {"principalId": "x"}}),
            json!({"httpMethod": "GET", "authorizer": {"claims": {"email": "a@b.c"}}}),
            json!({"httpMethod": "GET", "authorizer": {"claims": {"sub": ""}}}),
            json!({"httpMethod": "GET", "authorizer": {"claims": {"sub": "has space"}}}),
        ] {
            let request = request_with_context(context.clone());
            assert!(
                matches!(Caller::of(&request), Err(AppError::Unauthenticated)),
                "{context}"
            );
        }
    }

    #[test]
    fn an_order_is_read_by_its_customer_and_by_support_only() {
        let order = sample_order(); // placed by c-1
        assert!(customer("c-1").may_read(&order));
        assert!(!customer("c-2").may_read(&order));
        assert!(support("s-1").may_read(&order));
    }

    #[test]
    fn a_refused_write_is_an_unknown_order_except_to_support() {
        assert!(matches!(
            customer("c-2").refused_write(),
            AppError::NotFound
        ));
        assert!(matches!(
            support("s-1").refused_write(),
            AppError::Forbidden(_)
        ));
    }

    #[test]
    fn only_support_may_list_another_customers_orders() {
        let c1 = CustomerId::parse("c-1").unwrap();
        let c2 = CustomerId::parse("c-2").unwrap();
        assert_eq!(customer("c-1").orders_to_list(None).unwrap(), c1);
        assert!(matches!(
            customer("c-1").orders_to_list(Some(c2.clone())),
            Err(AppError::Forbidden(_))
        ));
        assert_eq!(support("s-1").orders_to_list(Some(c2.clone())).unwrap(), c2);
        assert_eq!(support("s-1").orders_to_list(None).unwrap().as_str(), "s-1");
    }
}
