//! Field-by-field decoding of a parsed JSON object.
//!
//! Tagged enums decoded through serde's derive buffer every frame into an intermediate tree
//! first, which costs a lot of code in the browser build; decoding each variant's fields
//! straight from the parsed object is smaller and gives errors that name the field.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The fields of one JSON object, taken out one by one.
pub(crate) struct Fields(pub(crate) Map<String, Value>);

/// A field is missing or has the wrong shape; `(field, detail)`.
pub(crate) type FieldError = (&'static str, String);

impl Fields {
    /// A required field.
    pub(crate) fn req<T: DeserializeOwned>(&mut self, name: &'static str) -> Result<T, FieldError> {
        let value = self.0.remove(name).ok_or((name, "missing".to_owned()))?;
        T::deserialize(value).map_err(|e| (name, e.to_string()))
    }

    /// An optional field; `null` counts as absent.
    pub(crate) fn opt<T: DeserializeOwned>(
        &mut self,
        name: &'static str,
    ) -> Result<Option<T>, FieldError> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => T::deserialize(value)
                .map(Some)
                .map_err(|e| (name, e.to_string())),
        }
    }

    /// An optional field with a default.
    pub(crate) fn or_default<T: DeserializeOwned + Default>(
        &mut self,
        name: &'static str,
    ) -> Result<T, FieldError> {
        Ok(self.opt(name)?.unwrap_or_default())
    }
}
