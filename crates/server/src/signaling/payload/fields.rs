//! The leaf types of the client→server payloads and how their errors read. Each type
//! deserialises with serde and, when the value is of the wrong kind or out of range, fails
//! with the message clients have always seen for that field (`must be a UUID`, `must be true
//! or false`, ...); [`refusal`] turns serde's error and its path into the
//! [`SignalingError`] naming the field.
//!
//! Nested objects (`offer`, `candidate`, `metrics`) are [`Object`]s: anything but a JSON
//! object is refused with that object's own message.

use super::super::error::SignalingError;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

/// Any JSON value, keeping only what a message or a rebuilt body needs. Containers are
/// read through (and dropped) without being kept.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    /// The number, and the number as an unsigned integer when it is one.
    Number(f64, Option<u64>),
    Str(String),
    Container,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        struct Any;
        impl<'de> Visitor<'de> for Any {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                Scalar::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(b))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Scalar, E> {
                Ok(Scalar::Number(n as f64, Some(n)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Scalar, E> {
                Ok(Scalar::Number(n as f64, u64::try_from(n).ok()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Scalar, E> {
                Ok(Scalar::Number(n, None))
            }
            fn visit_str<E>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Container)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Container)
            }
        }
        d.deserialize_any(Any)
    }
}

/// A UUID given as a string.
pub struct Id<T>(pub T);

impl<'de, T: FromStr> Deserialize<'de> for Id<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Str(s) => s.parse().map(Id).map_err(|_| de::Error::custom("must be a UUID")),
            _ => Err(de::Error::custom("must be a UUID string")),
        }
    }
}

/// `true` or `false`.
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Bool(b) => Ok(Flag(b)),
            _ => Err(de::Error::custom("must be true or false")),
        }
    }
}

/// A string of at most `MAX` characters.
pub struct Text<const MAX: usize>(pub String);

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Str(s) if s.chars().count() <= MAX => Ok(Text(s)),
            Scalar::Str(_) => Err(de::Error::custom(format!("must be at most {MAX} characters"))),
            _ => Err(de::Error::custom("must be a string")),
        }
    }
}

/// A number from 0 to `MAX`.
pub struct Metric<const MAX: u64>(pub f64);

/// Why a metric is refused when it is missing or not a number.
pub const METRIC_REQUIRED: &str = "is required and must be a number";

impl<'de, const MAX: u64> Deserialize<'de> for Metric<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Number(x, _) if x.is_finite() && (0.0..=MAX as f64).contains(&x) => Ok(Metric(x)),
            Scalar::Number(..) => Err(de::Error::custom(format!(
                "must be a number between 0 and {}",
                MAX as f64
            ))),
            _ => Err(de::Error::custom(METRIC_REQUIRED)),
        }
    }
}

/// A video resolution, `WIDTHxHEIGHT`.
pub struct Resolution(pub String);

impl<'de> Deserialize<'de> for Resolution {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Str(s)
                if s.len() <= 16
                    && s.split_once('x')
                        .is_some_and(|(w, h)| w.parse::<u32>().is_ok() && h.parse::<u32>().is_ok()) =>
            {
                Ok(Resolution(s))
            }
            _ => Err(de::Error::custom("must look like 1280x720")),
        }
    }
}

/// A nested object of a payload, and the message for anything else in its place.
pub trait Shape {
    const NOT_AN_OBJECT: &'static str;
}

/// A JSON object read as `T`; any other value is refused with `T`'s message.
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de> + Shape> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Only<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Shape> Visitor<'de> for Only<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(T::NOT_AN_OBJECT)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
            fn visit_unit<E: de::Error>(self) -> Result<T, E> {
                Err(E::custom(T::NOT_AN_OBJECT))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
                Err(E::custom(T::NOT_AN_OBJECT))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
                Err(E::custom(T::NOT_AN_OBJECT))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
                Err(E::custom(T::NOT_AN_OBJECT))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
                Err(E::custom(T::NOT_AN_OBJECT))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<T, E> {
                Err(E::custom(T::NOT_AN_OBJECT))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
                Err(de::Error::custom(T::NOT_AN_OBJECT))
            }
        }
        d.deserialize_any(Only(PhantomData)).map(Object)
    }
}

/// Every field a refusal can name. Inside `offer`, `answer` and `candidate` the refusal names
/// the object (its message says which part); inside `metrics` it names the metric.
const FIELDS: &[&str] = &[
    "callId",
    "videoEnabled",
    "audioEnabled",
    "screenShareEnabled",
    "reason",
    "offer",
    "answer",
    "candidate",
    "targetUserId",
    "userId",
    "text",
    "camera",
    "microphone",
    "speaker",
    "network",
    "metrics",
    "bandwidth",
    "latency",
    "packetLoss",
    "jitter",
    "videoResolution",
];

/// The refusal of a payload serde could not read: the field its path points at, with the
/// field's own message.
pub fn refusal(e: serde_path_to_error::Error<serde_json::Error>) -> SignalingError {
    let keys: Vec<String> = e
        .path()
        .iter()
        .filter_map(|s| match s {
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            _ => None,
        })
        .collect();
    let at = match keys.as_slice() {
        [first, metric, ..] if first == "metrics" => metric.as_str(),
        [first, ..] => first.as_str(),
        [] => "payload",
    };
    let field = FIELDS.iter().copied().find(|f| *f == at).unwrap_or("payload");
    SignalingError::invalid(field, e.into_inner().to_string())
}
