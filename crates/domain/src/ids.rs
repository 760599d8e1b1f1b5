//! Identifiers are UUIDs wrapped in types of their own, so a call id can never be passed
//! where a user id is expected, and nothing unparsed reaches the domain.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A person known to the platform: the JWT's `sub`.
    UserId
);
uuid_id!(
    /// One call between a patient and one or more providers.
    CallId
);
uuid_id!(
    /// One recording of a call.
    RecordingId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_uuids() {
        assert!("not-a-uuid".parse::<UserId>().is_err());
        assert!("".parse::<CallId>().is_err());
        let id: CallId = "6f1c2c1e-8f4b-4d5e-9a0b-1c2d3e4f5a6b".parse().expect("valid uuid");
        assert_eq!(id.to_string(), "6f1c2c1e-8f4b-4d5e-9a0b-1c2d3e4f5a6b");
    }
}
