//! Types that exist only to describe the API precisely in the OpenAPI document. Handlers
//! keep parsing text themselves (so errors can name the field); these tell clients and
//! schema-driven tools exactly which values are accepted.

use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

pub const UUID_PATTERN: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// A UUID, e.g. `6f1c2c1e-8f4b-4d5e-9a0b-1c2d3e4f5a6b`.
pub struct UuidText;

impl utoipa::PartialSchema for UuidText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
            .pattern(Some(UUID_PATTERN))
            .into()
    }
}

impl ToSchema for UuidText {}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum CallTypeName {
    Video,
    Audio,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum CallStatusName {
    Scheduled,
    Ringing,
    Active,
    Ended,
    Cancelled,
    Missed,
    Failed,
}
