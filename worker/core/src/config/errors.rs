//! Why a config or a model name was refused: every problem names the field path it concerns.

use std::fmt;

/// One thing wrong with the config, with the path of the field it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted field path such as `tiers.staff.rpm` or `upstreams[0].models`; empty for syntax.
    pub path: String,
    pub message: String,
}

/// Why `OACHAT_CONFIG` was refused: every problem found, each naming its field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl ConfigError {
    pub(super) fn single(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            problems: vec![ConfigProblem {
                path: path.into(),
                message: message.into(),
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            if problem.path.is_empty() {
                f.write_str(&problem.message)?;
            } else {
                write!(f, "{}: {}", problem.path, problem.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Why a model name could not be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelError {
    /// Neither an alias nor a model of any upstream (maps to 404 `model_not_found`).
    UnknownModel(String),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::UnknownModel(name) => write!(f, "the model `{name}` does not exist"),
        }
    }
}

impl std::error::Error for ModelError {}

/// A map key as it appears in a path: quoted when it contains a dot or space.
pub(super) fn quote_key(key: &str) -> String {
    if key.is_empty() || key.contains(['.', ' ', '"', '[', ']']) {
        format!("{key:?}")
    } else {
        key.to_string()
    }
}
