//! How enums are written in the database, and read back. Reading is `TryFrom<&str>`: a value
//! no variant names means the schema and the code are out of step, an internal error, never a
//! silent default.

/// A stored value that names no variant.
#[derive(Debug, thiserror::Error)]
#[error("the database holds {value:?}, which is no {kind}")]
pub struct UnknownStoredValue {
    kind: &'static str,
    value: String,
}

impl UnknownStoredValue {
    pub fn new(kind: &'static str, value: &str) -> Self {
        Self {
            kind,
            value: value.chars().take(64).collect(),
        }
    }
}

impl From<UnknownStoredValue> for super::DomainError {
    fn from(err: UnknownStoredValue) -> Self {
        Self::internal_from(err)
    }
}

/// `as_str` (the stored name of each variant) and `TryFrom<&str>` (back) for an enum.
macro_rules! stored_names {
    ($ty:ident, $kind:literal { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The name the database stores.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = $crate::domain::stored::UnknownStoredValue;

            fn try_from(value: &str) -> Result<Self, Self::Error> {
                match value {
                    $($name => Ok(Self::$variant),)*
                    _ => Err($crate::domain::stored::UnknownStoredValue::new($kind, value)),
                }
            }
        }
    };
}
