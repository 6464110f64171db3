//! What is wrong with a configuration source, each problem with its key path,
//! and the TOML decoder that names that path. Every area's config checks
//! report through these.

use std::fmt;

/// Everything wrong with one configuration source, each with its key path.
#[derive(Debug)]
pub struct ConfigError {
    pub source_name: String,
    pub problems: Vec<(String, String)>,
}

impl ConfigError {
    pub fn single(source_name: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            source_name: source_name.to_owned(),
            problems: vec![(path.into(), message.into())],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (path, message)) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            if path.is_empty() || path == "." {
                write!(f, "{}: {message}", self.source_name)?;
            } else {
                write!(f, "{}: {path}: {message}", self.source_name)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Decode TOML into `T`, naming the key path of the first problem.
pub fn decode_toml<T: serde::de::DeserializeOwned>(
    source_name: &str,
    text: &str,
) -> Result<T, ConfigError> {
    let deserializer = toml::de::Deserializer::parse(text)
        .map_err(|error| ConfigError::single(source_name, "", error.to_string().trim()))?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().message().trim().to_owned();
        ConfigError::single(source_name, path, message)
    })
}
