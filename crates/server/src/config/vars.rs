//! The raw inputs of the settings: a variable lookup, and the contents of the files some
//! variables name (read beforehand, at the edge, so that parsing itself stays pure).

use super::ConfigError;
use std::collections::HashMap;

/// The variables whose value is the path of a file the settings read.
pub(super) const FILE_VARIABLES: [&str; 1] = ["JWT_PUBLIC_KEY_FILE"];

/// A variable lookup: the process environment, a map in tests, anything.
pub(super) struct Vars<'a>(pub(super) &'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    /// A variable's value, with empty strings treated as unset (as `.env` templates leave them).
    pub(super) fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// A parsed value, `default` when unset; `expected` says what a valid value looks like.
    pub(super) fn parse<T: std::str::FromStr>(
        &self,
        var: &'static str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| invalid(var, &v, expected)),
        }
    }

    /// A number that must be at least `min` (`default` when unset).
    pub(super) fn at_least<T>(&self, var: &'static str, default: T, min: T, expected: &str) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        let value = self.parse(var, default, expected)?;
        if value < min {
            return Err(invalid(var, &value.to_string(), &format!("must be at least {min}")));
        }
        Ok(value)
    }

    /// A comma-separated list; blank items are dropped.
    pub(super) fn list(&self, var: &str, default: &str) -> Vec<String> {
        self.get(var)
            .unwrap_or_else(|| default.to_string())
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }
}

/// A bad value: names the variable and echoes at most 80 characters of the value (callers
/// pass `"(hidden)"` for secrets).
pub(super) fn invalid(var: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.chars().take(80).collect(),
        reason: reason.to_string(),
    }
}

/// The contents of the files named by [`FILE_VARIABLES`], by path, or why one could not be
/// read. Reading is the only I/O of configuration; [`Files::read`] does it up front.
#[derive(Clone, Debug, Default)]
pub struct Files(HashMap<String, Result<String, String>>);

impl Files {
    /// Reads every file a variable names. A file that cannot be read is no error yet: the
    /// parse reports it only if the setting is used.
    pub fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Files {
        let vars = Vars(lookup);
        let files = FILE_VARIABLES
            .iter()
            .filter_map(|var| vars.get(var))
            .map(|path| {
                let contents = std::fs::read_to_string(&path).map_err(|e| e.to_string());
                (path, contents)
            })
            .collect();
        Files(files)
    }

    /// Files given as they are (tests).
    pub fn from_contents(files: impl IntoIterator<Item = (String, String)>) -> Files {
        Files(files.into_iter().map(|(path, text)| (path, Ok(text))).collect())
    }

    /// The file's contents, or why it is not available.
    pub(super) fn get(&self, path: &str) -> Result<&str, &str> {
        match self.0.get(path) {
            Some(Ok(text)) => Ok(text),
            Some(Err(why)) => Err(why),
            None => Err("it was not read"),
        }
    }
}
