//! Field-by-field decoding of a parsed JSON object, with errors that name the field.

use crate::json::{FromJson, Json, Object, WireName};

/// A field is missing or has the wrong shape; `(field, detail)`.
pub(crate) type FieldError = (&'static str, String);

/// A read failed; the [`Fields`] it was read from holds the [`FieldError`]. Only a marker, so
/// the `?` after each of the many field reads moves no error text around (about 350 B gzip
/// less in the browser build).
#[derive(Debug)]
pub(crate) struct Failed;

/// What a field read returns.
pub(crate) type Read<T> = Result<T, Failed>;

/// The fields of one JSON object, taken out one by one; the first failed read keeps its error
/// here (reading stops there: every reader returns on the first `Failed`).
pub(crate) struct Fields {
    object: Object,
    error: Option<FieldError>,
}

impl Fields {
    pub(crate) fn new(object: Object) -> Self {
        Self {
            object,
            error: None,
        }
    }

    /// Records that field `name` is wrong.
    #[inline(never)]
    pub(crate) fn fail(&mut self, name: &'static str, detail: String) -> Failed {
        self.error = Some((name, detail));
        Failed
    }

    /// `read` for field `name`, its error recorded.
    pub(crate) fn check<T>(&mut self, name: &'static str, read: Result<T, String>) -> Read<T> {
        match read {
            Ok(value) => Ok(value),
            Err(detail) => Err(self.fail(name, detail)),
        }
    }

    /// The result of reading a whole message or object from these fields.
    pub(crate) fn finish<T>(self, read: Read<T>) -> Result<T, FieldError> {
        // A reader only fails through a read that recorded its error.
        read.map_err(|Failed| self.error.unwrap_or_default())
    }

    /// A required field.
    pub(crate) fn req<T: FromJson>(&mut self, name: &'static str) -> Read<T> {
        match self.object.take(name) {
            Some(value) => self.check(name, T::from_json(value)),
            None => Err(self.fail(name, "missing".to_owned())),
        }
    }

    /// An optional field; `null` counts as absent.
    pub(crate) fn opt<T: FromJson>(&mut self, name: &'static str) -> Read<Option<T>> {
        match self.object.take(name) {
            None | Some(Json::Null) => Ok(None),
            Some(value) => self.check(name, T::from_json(value)).map(Some),
        }
    }

    /// Reads a nested object with `read`; an error names the inner field (`id: …`).
    pub(crate) fn nested<T>(
        value: Json,
        read: impl FnOnce(&mut Fields) -> Read<T>,
    ) -> Result<T, String> {
        let mut fields = Fields::new(Object::from_json(value)?);
        let r = read(&mut fields);
        fields
            .finish(r)
            .map_err(|(field, detail)| [field, ": ", &detail].concat())
    }

    /// A required field holding a wire name: `Ok(Err(name))` for a name this version does
    /// not know, so the caller decides whether that is an error or something to skip.
    pub(crate) fn known<T: WireName>(&mut self, name: &'static str) -> Read<Result<T, String>> {
        let value: String = self.req(name)?;
        Ok(T::from_wire(&value).ok_or(value))
    }

    /// An optional field with a default.
    pub(crate) fn or_default<T: FromJson + Default>(&mut self, name: &'static str) -> Read<T> {
        Ok(self.opt(name)?.unwrap_or_default())
    }
}
