//! One rule for enums whose values are written as words on command lines
//! and in configuration files ([`spelled_enum!`](crate::spelled_enum)):
//! parsing is ASCII case-insensitive (`--platform TDX`, `--format Array`
//! and `format = "KV"` all work), and output, help and error messages use
//! the one canonical spelling.

/// Defines an enum of fixed spellings: `ALL` (every value, in declaration
/// order), `name()` (the canonical spelling), `Display` (the same) and
/// `FromStr`, which accepts the canonical spelling and any listed aliases
/// in any ASCII case, and otherwise returns the error the `error` closure
/// builds from the input.
///
/// Attributes (docs, derives) are passed through. [`spelled_serde!`](crate::spelled_serde)
/// adds serde support for crates that have serde.
///
/// ```
/// use rvkit_names::spelled_enum;
///
/// #[derive(Debug, PartialEq)]
/// pub struct Unknown(String);
///
/// spelled_enum! {
///     /// A hash.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Alg {
///         /// SHA-256.
///         Sha256 = "sha256" | "sha-256",
///         /// SHA-384.
///         Sha384 = "sha384",
///     }
///     error: Unknown = |s| Unknown(s.to_owned());
/// }
///
/// assert_eq!("SHA-256".parse::<Alg>(), Ok(Alg::Sha256));
/// assert_eq!(Alg::Sha384.to_string(), "sha384");
/// assert_eq!(Alg::ALL, [Alg::Sha256, Alg::Sha384]);
/// assert_eq!(Alg::names(), "sha256, sha384");
/// assert_eq!("md5".parse::<Alg>(), Err(Unknown("md5".into())));
/// ```
#[macro_export]
macro_rules! spelled_enum {
    (
        $(#[$attr:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vattr:meta])* $variant:ident = $text:literal $(| $alias:literal)*),+ $(,)?
        }
        error: $err:ty = |$input:ident| $make_err:expr;
    ) => {
        $(#[$attr])*
        $vis enum $name {
            $($(#[$vattr])* $variant),+
        }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            /// The canonical spelling, used in output, help and messages.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The canonical spellings, comma-separated, for help and
            /// error messages.
            pub fn names() -> ::std::string::String {
                [$($text),+].join(", ")
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $err;

            /// Accepts the canonical spelling or an alias, in any ASCII case.
            fn from_str($input: &str) -> ::std::result::Result<$name, $err> {
                $(
                    if $input.eq_ignore_ascii_case($text) $(|| $input.eq_ignore_ascii_case($alias))* {
                        return Ok($name::$variant);
                    }
                )+
                Err($make_err)
            }
        }
    };
}

/// Implements serde's `Serialize` (the canonical spelling) and
/// `Deserialize` (through `FromStr`, so case-insensitive) for an enum
/// defined with [`spelled_enum!`](crate::spelled_enum). The calling crate
/// must depend on `serde`.
#[macro_export]
macro_rules! spelled_serde {
    ($name:ident) => {
        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<$name, D::Error> {
                let s = <::std::string::String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
