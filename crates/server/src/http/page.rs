//! Paging of list routes (`limit` and `offset` query parameters), parsed one way for every
//! list. Each list states its bounds once as a [`Paging`]; its query struct's OpenAPI
//! `minimum`/`maximum` must say the same, which the test below checks against the document.

use super::error::ApiError;

/// A page of a list: at most `limit` items, skipping the first `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

/// The paging bounds of one list: `limit` from 1 to `max_limit` (default `default_limit`),
/// `offset` from 0 to `max_offset` (default 0).
#[derive(Clone, Copy, Debug)]
pub struct Paging {
    pub default_limit: i64,
    pub max_limit: i64,
    pub max_offset: i64,
}

/// `GET /webrtc/calls`.
pub const CALLS: Paging = Paging {
    default_limit: 20,
    max_limit: 100,
    max_offset: 1_000_000,
};

/// `GET /webrtc/audit`.
pub const AUDIT: Paging = Paging {
    default_limit: 50,
    max_limit: 500,
    max_offset: i32::MAX as i64,
};

impl Paging {
    /// Parses the raw query values, answering 400 naming the parameter at fault.
    pub fn parse(&self, limit: Option<&str>, offset: Option<&str>) -> Result<Page, ApiError> {
        Ok(Page {
            limit: whole_number(limit, "limit", self.default_limit, 1, self.max_limit)?,
            offset: whole_number(offset, "offset", 0, 0, self.max_offset)?,
        })
    }
}

fn whole_number(raw: Option<&str>, field: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(
            field,
            format!("{field} must be a whole number from {min} to {max}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn absent_values_take_the_defaults_and_bounds_are_inclusive() {
        assert_eq!(CALLS.parse(None, None).ok(), Some(Page { limit: 20, offset: 0 }));
        assert_eq!(
            AUDIT.parse(Some("500"), Some("2147483647")).ok(),
            Some(Page {
                limit: 500,
                offset: 2_147_483_647
            })
        );
        assert_eq!(
            CALLS.parse(Some("1"), Some("0")).ok(),
            Some(Page { limit: 1, offset: 0 })
        );
    }

    #[test]
    fn values_out_of_bounds_or_not_whole_numbers_are_refused_naming_the_parameter() {
        for (limit, offset, field) in [
            (Some("0"), None, "limit"),
            (Some("101"), None, "limit"),
            (Some(""), None, "limit"),
            (Some("ten"), None, "limit"),
            (Some("2.5"), None, "limit"),
            (None, Some("-1"), "offset"),
            (None, Some("1000001"), "offset"),
        ] {
            let e = CALLS.parse(limit, offset).expect_err(field);
            assert_eq!((e.status, e.field.as_deref()), (StatusCode::BAD_REQUEST, Some(field)));
        }
        let e = AUDIT.parse(Some("501"), None).expect_err("over the maximum");
        assert_eq!(e.detail, "limit must be a whole number from 1 to 500");
    }

    /// The bounds the OpenAPI document publishes for a list's `limit` and `offset`.
    fn published(doc: &serde_json::Value, path: &str) -> [(i64, i64); 2] {
        let params = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} has parameters"));
        let bounds = |name: &str| {
            let schema = params
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| &p["schema"])
                .unwrap_or_else(|| panic!("{path} has {name}"));
            let bound = |key: &str| schema[key].as_i64().unwrap_or_else(|| panic!("{path} {name} {key}"));
            (bound("minimum"), bound("maximum"))
        };
        [bounds("limit"), bounds("offset")]
    }

    #[test]
    fn the_openapi_document_publishes_the_bounds_the_parser_enforces() {
        let (_, doc) = crate::http::api();
        let doc = serde_json::to_value(&doc).expect("the document serializes");
        for (path, paging) in [("/webrtc/calls", CALLS), ("/webrtc/audit", AUDIT)] {
            assert_eq!(
                published(&doc, path),
                [(1, paging.max_limit), (0, paging.max_offset)],
                "{path}"
            );
        }
    }
}
