//! Field-by-field decoding of a parsed JSON object, with errors that name the field.

use crate::json::{FromJson, Json, Object, WireName};

/// The fields of one JSON object, taken out one by one.
pub(crate) struct Fields(pub(crate) Object);

/// A field is missing or has the wrong shape; `(field, detail)`.
pub(crate) type FieldError = (&'static str, String);

impl Fields {
    /// A required field.
    pub(crate) fn req<T: FromJson>(&mut self, name: &'static str) -> Result<T, FieldError> {
        let value = self.0.take(name).ok_or((name, "missing".to_owned()))?;
        T::from_json(value).map_err(|e| (name, e))
    }

    /// An optional field; `null` counts as absent.
    pub(crate) fn opt<T: FromJson>(&mut self, name: &'static str) -> Result<Option<T>, FieldError> {
        match self.0.take(name) {
            None | Some(Json::Null) => Ok(None),
            Some(value) => T::from_json(value).map(Some).map_err(|e| (name, e)),
        }
    }

    /// Reads a nested object with `read`; an error names the inner field (`id: …`).
    pub(crate) fn nested<T>(
        value: Json,
        read: impl FnOnce(&mut Fields) -> Result<T, FieldError>,
    ) -> Result<T, String> {
        let mut fields = Fields(Object::from_json(value)?);
        read(&mut fields).map_err(|(field, detail)| [field, ": ", &detail].concat())
    }

    /// A required field holding a wire name: `Ok(Err(name))` for a name this version does
    /// not know, so the caller decides whether that is an error or something to skip.
    pub(crate) fn known<T: WireName>(
        &mut self,
        name: &'static str,
    ) -> Result<Result<T, String>, FieldError> {
        let value: String = self.req(name)?;
        Ok(T::from_wire(&value).ok_or(value))
    }

    /// An optional field with a default.
    pub(crate) fn or_default<T: FromJson + Default>(
        &mut self,
        name: &'static str,
    ) -> Result<T, FieldError> {
        Ok(self.opt(name)?.unwrap_or_default())
    }
}
