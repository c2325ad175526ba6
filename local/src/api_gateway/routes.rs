//! Routing: which method of the API a request is for.
//!
//! Each `Api` event of a function is a method: an HTTP method on a resource path such as
//! `/orders/{orderId}`. A request is routed to the most specific one that matches; none is API
//! Gateway's `MISSING_AUTHENTICATION_TOKEN` (a 403 by default: an unknown path is reported as if
//! it needed credentials, so paths cannot be probed).

use std::collections::HashMap;
use std::time::Duration;

use super::access::Access;

/// One `Api` event of the template: a method and path routed to a function.
#[derive(Debug, Clone)]
pub struct Route {
    /// `GET`, `post` (the template's spelling; compared without case), or `ANY`.
    pub method: String,
    /// The template's path: `/orders/{orderId}`; `{name+}` as the last segment takes the rest.
    pub path: String,
    /// The function's logical id, as registered with the [`LambdaService`](crate::lambda::LambdaService).
    pub function: String,
    /// What the method requires of a caller: the authorizer, the API key.
    pub access: Access,
    /// How long API Gateway waits for the function: `TimeoutInMillis`, else 29 s
    /// ([`INTEGRATION_TIMEOUT`](super::INTEGRATION_TIMEOUT)).
    pub integration_timeout: Duration,
}

/// The route for a request and its path parameters. Among the routes that match, the most
/// specific wins: at the first segment where they differ, a literal beats a `{param}`, which
/// beats a greedy `{param+}`; on a tie, the first route. `/orders` and `/orders/` are different
/// paths, and the method must match (`ANY` matches every method).
pub fn match_route<'a>(
    routes: &'a [Route],
    method: &str,
    path: &str,
) -> Option<(&'a Route, HashMap<String, String>)> {
    let mut best: Option<(&Route, Vec<u8>, HashMap<String, String>)> = None;
    for route in routes {
        if !(route.method.eq_ignore_ascii_case("ANY") || route.method.eq_ignore_ascii_case(method))
        {
            continue;
        }
        let Some((rank, parameters)) = match_path(&route.path, path) else {
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|(_, best_rank, _)| rank > *best_rank)
        {
            best = Some((route, rank, parameters));
        }
    }
    best.map(|(route, _, parameters)| (route, parameters))
}

/// Whether any method of the API is on `path` (whatever its HTTP method): the paths SAM adds a
/// CORS preflight (`OPTIONS`) to.
pub fn has_resource(routes: &[Route], path: &str) -> bool {
    routes
        .iter()
        .any(|route| match_path(&route.path, path).is_some())
}

/// How a template path matches a request path: the rank of each segment (2 literal, 1 param,
/// 0 greedy) and the parameters, or `None`.
fn match_path(template: &str, path: &str) -> Option<(Vec<u8>, HashMap<String, String>)> {
    let template: Vec<&str> = segments(template).collect();
    let requested: Vec<&str> = segments(path).collect();
    let mut rank = Vec::with_capacity(template.len());
    let mut parameters = HashMap::new();
    for (index, segment) in template.iter().enumerate() {
        let parameter = segment
            .strip_prefix('{')
            .and_then(|segment| segment.strip_suffix('}'));
        match parameter {
            Some(greedy) if greedy.ends_with('+') && index == template.len() - 1 => {
                let rest = requested.get(index..).filter(|rest| !rest.is_empty())?;
                if rest.iter().all(|segment| segment.is_empty()) {
                    return None;
                }
                parameters.insert(greedy.trim_end_matches('+').to_owned(), rest.join("/"));
                rank.push(0);
                return Some((rank, parameters));
            }
            Some(name) => {
                let value = requested.get(index).filter(|value| !value.is_empty())?;
                parameters.insert(name.to_owned(), (*value).to_owned());
                rank.push(1);
            }
            None => {
                if requested.get(index) != Some(segment) {
                    return None;
                }
                rank.push(2);
            }
        }
    }
    (requested.len() == template.len()).then_some((rank, parameters))
}

/// `/orders/{orderId}` -> `orders`, `{orderId}`; `/orders/` -> `orders`, `` (a trailing slash is
/// one more, empty, segment).
fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::api_gateway) fn route(method: &str, path: &str, function: &str) -> Route {
        Route {
            method: method.to_owned(),
            path: path.to_owned(),
            function: function.to_owned(),
            access: Access::default(),
            integration_timeout: crate::api_gateway::INTEGRATION_TIMEOUT,
        }
    }

    fn orders_routes() -> Vec<Route> {
        vec![
            route("post", "/orders", "CreateOrderFunction"),
            route("get", "/orders", "ListOrdersFunction"),
            route("get", "/orders/{orderId}", "GetOrderFunction"),
            route("get", "/orders/search", "SearchFunction"),
            route("post", "/orders/{orderId}/cancel", "CancelOrderFunction"),
            route("ANY", "/files/{path+}", "FilesFunction"),
        ]
    }

    fn matched(method: &str, path: &str) -> Option<(String, HashMap<String, String>)> {
        let routes = orders_routes();
        match_route(&routes, method, path).map(|(route, params)| (route.function.clone(), params))
    }

    #[test]
    fn a_literal_segment_beats_a_parameter_whatever_the_order() {
        let (function, params) = matched("GET", "/orders/search").unwrap();
        assert_eq!(function, "SearchFunction");
        assert!(params.is_empty());

        let (function, params) = matched("GET", "/orders/0194a3f2").unwrap();
        assert_eq!(function, "GetOrderFunction");
        assert_eq!(params["orderId"], "0194a3f2");

        let (function, params) = matched("POST", "/orders/0194a3f2/cancel").unwrap();
        assert_eq!(function, "CancelOrderFunction");
        assert_eq!(params["orderId"], "0194a3f2");
    }

    #[test]
    fn the_method_must_match_and_any_matches_all() {
        assert_eq!(matched("GET", "/orders").unwrap().0, "ListOrdersFunction");
        assert_eq!(matched("POST", "/orders").unwrap().0, "CreateOrderFunction");
        assert_eq!(matched("DELETE", "/orders"), None);
        assert_eq!(matched("GET", "/orders/1/cancel"), None);
        let (function, params) = matched("DELETE", "/files/a/b.txt").unwrap();
        assert_eq!(function, "FilesFunction");
        assert_eq!(params["path"], "a/b.txt");
    }

    #[test]
    fn a_trailing_slash_and_unknown_paths_match_nothing() {
        assert_eq!(matched("GET", "/orders/"), None);
        assert_eq!(matched("GET", "/orders//cancel"), None);
        assert_eq!(matched("GET", "/customers"), None);
        assert_eq!(matched("GET", "/"), None);
        assert_eq!(
            matched("GET", "/files"),
            None,
            "a greedy parameter takes one segment or more"
        );
    }
}
