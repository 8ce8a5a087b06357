//! A message a person reads: always in Chinese and in English.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Text shown to a user, in Chinese first and in English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub zh: String,
    pub en: String,
}

impl Message {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Message {
            zh: zh.into(),
            en: en.into(),
        }
    }
}

impl fmt::Display for Message {
    /// Both languages on one line, Chinese first, as a terminal user sees them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {}", self.zh, self.en)
    }
}
