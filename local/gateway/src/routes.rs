//! Route selection as an HTTP API does it
//! (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html):
//! a full match of method and path first, then a route with a greedy `{proxy+}`
//! variable, then `$default`. A route for the exact method beats `ANY`, and literal
//! segments beat variables. Paths are compared as sent (a trailing slash matters).

use std::collections::BTreeMap;

use crate::template::Route;

pub struct Matched<'a> {
    pub route: &'a Route,
    pub parameters: BTreeMap<String, String>,
}

/// The route `method path` takes, if any.
pub fn select<'a>(routes: &'a [Route], method: &str, path: &str) -> Option<Matched<'a>> {
    let mut best: Option<((u8, usize, u8), Matched<'a>)> = None;
    for route in routes {
        let (Some(route_method), Some(route_path)) = (&route.method, &route.path) else {
            continue;
        };
        let exact_method = route_method == method;
        if !exact_method && route_method != "ANY" {
            continue;
        }
        let Some((greedy, literals, parameters)) = match_path(route_path, path) else {
            continue;
        };
        let score = (u8::from(!greedy), literals, u8::from(exact_method));
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, Matched { route, parameters }));
        }
    }
    best.map(|(_, m)| m).or_else(|| {
        routes
            .iter()
            .find(|r| r.path.is_none())
            .map(|route| Matched {
                route,
                parameters: BTreeMap::new(),
            })
    })
}

/// Whether `path` fits `template`: (greedy, literal segments, parameters).
fn match_path(template: &str, path: &str) -> Option<(bool, usize, BTreeMap<String, String>)> {
    let wanted: Vec<&str> = template.split('/').collect();
    let given: Vec<&str> = path.split('/').collect();
    let mut parameters = BTreeMap::new();
    let mut literals = 0;
    for (i, segment) in wanted.iter().enumerate() {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            // Greedy: the rest of the path, at least one character.
            let rest = given.get(i..)?.join("/");
            if rest.is_empty() {
                return None;
            }
            parameters.insert(name.to_owned(), rest);
            return Some((true, literals, parameters));
        }
        let value = given.get(i)?;
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if !value.is_empty() => {
                parameters.insert(name.to_owned(), percent_decode(value));
            }
            Some(_) => return None,
            None if segment == value => literals += 1,
            None => return None,
        }
    }
    (wanted.len() == given.len()).then_some((false, literals, parameters))
}

fn percent_decode(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(Ok(b)) = text.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Route {
        Route {
            method: Some(method.into()),
            path: Some(path.into()),
            function: path.into(),
            timeout_ms: 30_000,
            authorizer: None,
        }
    }

    #[test]
    fn exact_routes_beat_variables_greedy_and_default() {
        let routes = vec![
            route("GET", "/api/v1/users/{id}"),
            route("GET", "/api/v1/users/me"),
            route("ANY", "/api/{proxy+}"),
            Route {
                method: None,
                path: None,
                function: "default".into(),
                timeout_ms: 30_000,
                authorizer: None,
            },
        ];
        let key = |m, p| select(&routes, m, p).map(|m| m.route.key());
        assert_eq!(
            key("GET", "/api/v1/users/me").as_deref(),
            Some("GET /api/v1/users/me")
        );
        let matched = select(&routes, "GET", "/api/v1/users/7").expect("a route");
        assert_eq!(matched.parameters["id"], "7");
        assert_eq!(
            key("PUT", "/api/v1/users/7").as_deref(),
            Some("ANY /api/{proxy+}")
        );
        assert_eq!(key("GET", "/other").as_deref(), Some("$default"));
        assert_eq!(
            key("GET", "/api/v1/users/").as_deref(),
            Some("ANY /api/{proxy+}")
        );
    }
}
