//! How the daemon reads request bodies: as the reference does, leniently.
//! A field of the wrong JSON type is read as absent instead of failing the
//! request, except where the reference answers with an error; such errors
//! are written `<code>: <message>` so the daemon answers them with that
//! error code (see `openworkd::http::Payload`).

use crate::models::JsonObject;
use crate::{ErrorCode, Scope};
use serde::de::{Deserialize, Deserializer, Error};
use serde_json::Value;

/// An error the daemon answers with `code` and `message`.
pub fn refuse<E: Error>(code: ErrorCode, message: &str) -> E {
    E::custom(format!("{code}: {message}"))
}

/// A string, or "" for anything else.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        _ => String::new(),
    })
}

/// A string, trimmed, or "" for anything else.
pub fn trimmed<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    string(d).map(|s| s.trim().to_owned())
}

/// A string, or none for anything else.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// A non-empty trimmed string, or none.
pub fn opt_trimmed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    opt_string(d).map(|s| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()))
}

/// What JavaScript would make a string of, when the value is truthy:
/// `null`, `false`, `""` and `0` are none; other non-strings their JSON.
pub fn truthy_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s),
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        other => Some(other.to_string()),
    })
}

/// A boolean, or none for anything else.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Value::deserialize(d)?.as_bool())
}

/// `true` only for `true`.
pub fn is_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Value::deserialize(d)? == Value::Bool(true))
}

/// Any JSON but `null` and `false`, which count as absent.
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null | Value::Bool(false) => None,
        other => Some(other),
    })
}

fn object_named<'de, D: Deserializer<'de>>(
    d: D,
    name: &str,
) -> Result<Option<JsonObject>, D::Error> {
    match present(d)? {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(refuse(
            ErrorCode::InvalidPayload,
            &format!("{name} must be an object"),
        )),
    }
}

/// `opencode` of a config patch: an object, or absent (`null`, `false`).
pub fn opencode_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<JsonObject>, D::Error> {
    object_named(d, "opencode")
}

/// `openwork` of a config patch: an object, or absent (`null`, `false`).
pub fn openwork_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<JsonObject>, D::Error> {
    object_named(d, "openwork")
}

/// A token scope, its name trimmed.
pub fn scope<'de, D: Deserializer<'de>>(d: D) -> Result<Scope, D::Error> {
    Value::deserialize(d)?
        .as_str()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            refuse(
                ErrorCode::InvalidScope,
                "Token scope must be owner, collaborator, or viewer",
            )
        })
}

/// An approval reply: exactly `"allow"` allows; anything else denies.
pub fn reply<'de, D: Deserializer<'de>>(d: D) -> Result<crate::models::Reply, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if s == "allow" => crate::models::Reply::Allow,
        _ => crate::models::Reply::Deny,
    })
}

/// A finite number, or none for anything else.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(Value::deserialize(d)?.as_f64().filter(|v| v.is_finite()))
}

/// `false` only for `false`.
pub fn not_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Value::deserialize(d)? != Value::Bool(false))
}

/// A string that is not blank (kept as given), or none.
pub fn opt_nonblank<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    opt_string(d).map(|s| s.filter(|s| !s.trim().is_empty()))
}

/// The most items a file-session batch takes.
pub const MAX_BATCH: usize = 64;

/// The array field `name` of a batch: 1 to 64 items.
fn batch<E: Error>(value: Value, name: &str) -> Result<Vec<Value>, E> {
    let refuse_as = |message: String| refuse(ErrorCode::InvalidPayload, &message);
    let Value::Array(items) = value else {
        return Err(refuse_as(format!("{name} must be an array")));
    };
    if items.is_empty() {
        return Err(refuse_as(format!("{name} must not be empty")));
    }
    if items.len() > MAX_BATCH {
        return Err(refuse_as(format!(
            "{name} must include <= {MAX_BATCH} items"
        )));
    }
    Ok(items)
}

/// `paths` of a read batch; an item that is not a string reads as "".
pub fn paths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items = batch(Value::deserialize(d)?, "paths")?;
    Ok(items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => s,
            _ => String::new(),
        })
        .collect())
}

/// `writes` of a write batch: objects only.
pub fn writes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<crate::models::FileWrite>, D::Error> {
    batch(Value::deserialize(d)?, "writes")?
        .into_iter()
        .map(|v| match v {
            Value::Object(_) => serde_json::from_value(v).map_err(D::Error::custom),
            _ => Err(refuse(
                ErrorCode::InvalidPayload,
                "write entries must be objects",
            )),
        })
        .collect()
}

/// `operations` of an ops request; an item that is not an object is an
/// operation of no type.
pub fn operations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<crate::models::FileOp>, D::Error> {
    let value = Value::deserialize(d)?;
    if value.as_array().is_none_or(Vec::is_empty) {
        return Err(refuse(
            ErrorCode::InvalidPayload,
            "operations must be a non-empty array",
        ));
    }
    batch(value, "operations")?
        .into_iter()
        .map(|v| match v {
            Value::Object(_) => serde_json::from_value(v).map_err(D::Error::custom),
            _ => Ok(crate::models::FileOp::default()),
        })
        .collect()
}

/// A non-empty string, or none.
pub fn opt_filled<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    opt_string(d).map(|s| s.filter(|s| !s.is_empty()))
}

/// An object, or none for anything else.
pub fn opt_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<JsonObject>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(o) => Some(o),
        _ => None,
    })
}

/// `T` read from an object; anything else is `T`'s default.
pub fn object_or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    match Value::deserialize(d)? {
        v @ Value::Object(_) => serde_json::from_value(v).map_err(D::Error::custom),
        _ => Ok(T::default()),
    }
}

/// The items of an array, each read as `T` (a non-object as `T`'s
/// default); anything but an array is no items.
pub fn items<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let Value::Array(items) = Value::deserialize(d)? else {
        return Ok(Vec::new());
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::Object(_) => serde_json::from_value(v).map_err(D::Error::custom),
            _ => Ok(T::default()),
        })
        .collect()
}

/// `"replace"`, else merge.
pub fn import_mode<'de, D: Deserializer<'de>>(d: D) -> Result<crate::models::ImportMode, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if s == "replace" => crate::models::ImportMode::Replace,
        _ => crate::models::ImportMode::Merge,
    })
}

/// The longest token lifetime accepted: ten years.
pub const MAX_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// A token lifetime: absent or `null` is none; anything but a whole number
/// of seconds from 1 to ten years is refused.
pub fn ttl_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let refused = || {
        refuse(
            ErrorCode::InvalidPayload,
            &format!("ttlSeconds must be a whole number of seconds from 1 to {MAX_TTL_SECONDS}"),
        )
    };
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .filter(|s| (1..=MAX_TTL_SECONDS).contains(s))
            .map(Some)
            .ok_or_else(refused),
        _ => Err(refused()),
    }
}
