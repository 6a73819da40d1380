//! Fieldless enums with a wire spelling, declared once.

/// Declares a fieldless enum together with its wire spelling: the enum itself, `as_str`,
/// `from_wire`, [`ToJson`](super::ToJson), [`FromJson`](super::FromJson) and, with the `serde`
/// feature, `Serialize`/`Deserialize` using the same names, so the codec and serde cannot drift
/// apart.
///
/// ```ignore
/// wire_enum! {
///     /// Docs.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
///     pub enum Reason {
///         /// Docs.
///         Left = "left",
///         /// A value this version does not know.
///         Other = "other",
///     }
///     else Other
/// }
/// ```
///
/// With `else Variant` the enum is open: decoding an unknown name gives `Variant` instead of
/// an error (`from_wire` stays strict, for callers that must refuse).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $name:literal, )+
        }
        $(else $other:ident)?
    ) => {
        $(#[$meta])*
        $vis enum $ty {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $ty {
            /// Every value and its wire spelling, in declaration order.
            #[allow(dead_code)]
            pub(crate) const WIRE_NAMES: &'static [(Self, &'static str)] =
                &[$((Self::$variant, $name)),+];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }

            /// The value with wire spelling `name`.
            pub fn from_wire(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)+
                    _ => None,
                }
            }

            /// The value `name` decodes to: unknown names are errors, or the fallback of an
            /// open enum.
            fn decode_name(name: &str) -> Result<Self, String> {
                match Self::from_wire(name) {
                    Some(v) => Ok(v),
                    None => {
                        let fallback: Option<Self> = None $(.or(Some(Self::$other)))?;
                        fallback.ok_or_else(|| $crate::json::unknown_name(name))
                    }
                }
            }
        }

        impl $crate::json::WireName for $ty {
            fn from_wire(name: &str) -> Option<Self> {
                Self::from_wire(name)
            }
        }

        impl $crate::json::ToJson for $ty {
            fn write_json(&self, out: &mut String) {
                $crate::json::write_str(out, self.as_str());
            }
        }

        impl $crate::json::FromJson for $ty {
            fn from_json(value: $crate::json::Json) -> Result<Self, String> {
                Self::decode_name(&<String as $crate::json::FromJson>::from_json(value)?)
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                // Closed enums keep serde's usual message, which lists the names.
                Self::decode_name(&name)
                    .map_err(|_| serde::de::Error::unknown_variant(&name, &[$($name),+]))
            }
        }
    };
}
pub(crate) use wire_enum;

/// An enum with wire spellings (see [`wire_enum!`]), for decoders that handle unknown names
/// themselves.
pub(crate) trait WireName: Sized {
    /// The value with wire spelling `name`.
    fn from_wire(name: &str) -> Option<Self>;
}

/// The error for a name no variant has.
pub(crate) fn unknown_name(name: &str) -> String {
    let mut s = String::from("unknown value ");
    s.push_str(&super::quoted(name));
    s
}
