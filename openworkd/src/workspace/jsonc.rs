//! JSONC (JSON with comments and trailing commas): parsing to values and
//! editing top-level keys through a concrete syntax tree, so comments and
//! formatting elsewhere in the file survive.

use crate::error::{ApiError, ApiResult};
use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstRootNode};
use jsonc_parser::errors::{ParseError, ParseErrorKind};
use openwork_shared::ErrorCode;
use serde_json::{Value, json};

fn options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        ..ParseOptions::default()
    }
}

/// Parse JSONC text. An empty document is `{}`.
pub fn parse(text: &str) -> ApiResult<Value> {
    match jsonc_parser::parse_to_serde_value::<Option<Value>>(text, &options()) {
        Ok(value) => Ok(value.unwrap_or_else(|| json!({}))),
        Err(e) => Err(parse_error(&e)),
    }
}

/// Set each `(key, value)` at the top level of the document, replacing the
/// whole value of an existing key and appending new keys. The result ends
/// with a newline.
pub fn set_top_level(text: &str, edits: &[(String, Value)]) -> ApiResult<String> {
    let root = CstRootNode::parse(text, &options()).map_err(|e| parse_error(&e))?;
    let object = match root.value() {
        None => root.object_value_or_set(),
        Some(_) => root.object_value().ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidJsonc, "Failed to parse JSONC")
                .with_status(422)
                .with_details(json!([{"code": "ValueExpected", "offset": 0, "length": 0}]))
        })?,
    };
    for (key, value) in edits {
        let input = to_input(value);
        match object.get(key) {
            Some(prop) => prop.set_value(input),
            None => {
                object.append(key, input);
            }
        }
    }
    let mut out = root.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// A value as 2-space JSON with a trailing newline (new files).
pub fn to_pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

fn to_input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(to_input).collect()),
        Value::Object(map) => {
            CstInputValue::Object(map.iter().map(|(k, v)| (k.clone(), to_input(v))).collect())
        }
    }
}

/// The 422 `invalid_jsonc` error, with the error names clients know.
fn parse_error(e: &ParseError) -> ApiError {
    use ParseErrorKind::*;
    let name = match e.kind() {
        ExpectedColonAfterObjectKey => "ColonExpected",
        ExpectedObjectValue | UnexpectedCloseBrace | UnexpectedCloseBracket | UnexpectedComma => {
            "ValueExpected"
        }
        ExpectedComma => "CommaExpected",
        ExpectedStringObjectProperty | UnexpectedTokenInObject => "PropertyNameExpected",
        UnterminatedObject => "CloseBraceExpected",
        UnterminatedArray => "CloseBracketExpected",
        UnterminatedCommentBlock => "UnexpectedEndOfComment",
        MultipleRootJsonValues => "EndOfFileExpected",
        String(_) => "UnexpectedEndOfString",
        ExpectedDigit
        | ExpectedDigitFollowingNegativeSign
        | ExpectedPlusMinusOrDigitInNumberLiteral
        | BareDecimalPointNumbersNotAllowed => "InvalidNumberFormat",
        _ => "InvalidSymbol",
    };
    let range = e.range();
    ApiError::new(ErrorCode::InvalidJsonc, "Failed to parse JSONC").with_details(json!([{
        "code": name,
        "offset": range.start,
        "length": range.end.saturating_sub(range.start),
        "message": e.to_string(),
    }]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_comments_and_formatting() {
        let text = "// project config\n{\n  // the model\n  \"model\": \"a\", /* keep */\n  \"plugin\": [\"x\"],\n}\n";
        let out = set_top_level(
            text,
            &[
                ("model".into(), json!("b")),
                ("mcp".into(), json!({"n": {"type": "local"}})),
            ],
        )
        .unwrap();
        assert!(out.contains("// project config"));
        assert!(out.contains("// the model"));
        assert!(out.contains("\"model\": \"b\", /* keep */"));
        assert!(out.contains("\"plugin\": [\"x\"]"));
        assert_eq!(parse(&out).unwrap()["mcp"]["n"]["type"], "local");
    }

    #[test]
    fn empty_documents_become_objects() {
        assert_eq!(parse("").unwrap(), json!({}));
        let out = set_top_level("", &[("a".into(), json!(1))]).unwrap();
        assert_eq!(parse(&out).unwrap(), json!({"a": 1}));
        assert!(out.ends_with('\n'));
    }

    #[test]
    fn errors_carry_offsets() {
        let e = parse("{\"a\" 1}").unwrap_err();
        assert_eq!(e.status, 422);
        assert_eq!(e.details.unwrap()[0]["code"], "ColonExpected");
        assert!(parse("{\"a\": 1,}").is_ok());
        assert!(set_top_level("[1]", &[]).is_err());
    }
}
