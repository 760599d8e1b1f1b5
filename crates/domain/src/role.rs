//! The three kinds of caller. The platform's JWT carries the role; nothing else grants one.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Patient,
    Provider,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Patient, Role::Provider, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Provider => "provider",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("role must be one of patient, provider, admin")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or(UnknownRole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_exactly_and_case_sensitively() {
        assert_eq!("patient".parse::<Role>().ok(), Some(Role::Patient));
        assert_eq!("admin".parse::<Role>().ok(), Some(Role::Admin));
        assert!("Admin".parse::<Role>().is_err());
        assert!("nurse".parse::<Role>().is_err());
        assert!("".parse::<Role>().is_err());
    }
}
