//! The one canonical form of a proxied path. The engine behind the proxy
//! percent-decodes the path, ignores empty segments, cuts it at `;` and
//! matches routes case-insensitively, so a policy that looked at the raw
//! path could be walked around (`…/REPLY`, `…/%72eply`, `…///reply`,
//! `…/reply;x`). The proxy therefore judges this form and forwards exactly
//! it: what was checked is what the engine sees.

use crate::error::{ApiError, ApiResult};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// Bytes escaped again when a segment is forwarded, so that one decoding
/// by the engine gives back exactly the judged segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b';')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPath {
    segments: Vec<String>,
}

impl ProxyPath {
    /// Decode `raw` (a request path, still percent-encoded) once, cut it at
    /// the first `;`, read `\` as `/`, drop empty and `.` segments and
    /// apply `..` (never above the root).
    pub fn parse(raw: &str) -> ApiResult<ProxyPath> {
        let decoded = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| ApiError::invalid_path("Path is not valid UTF-8 once decoded"))?;
        let kept = decoded.split(';').next().unwrap_or_default();
        let mut segments: Vec<String> = Vec::new();
        for segment in kept.split(['/', '\\']) {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                other => segments.push(other.to_owned()),
            }
        }
        Ok(ProxyPath { segments })
    }

    /// Whether the path is exactly `expected` (segments, any case).
    pub fn is(&self, expected: &[&str]) -> bool {
        self.segments.len() == expected.len()
            && self
                .segments
                .iter()
                .zip(expected)
                .all(|(s, e)| s.eq_ignore_ascii_case(e))
    }

    /// Whether any segment is one of `names` (any case).
    pub fn mentions(&self, names: &[&str]) -> bool {
        self.segments
            .iter()
            .any(|s| names.iter().any(|n| s.eq_ignore_ascii_case(n)))
    }

    /// The path to forward: `/` and the segments, each escaped so that one
    /// decoding gives it back unchanged.
    pub fn to_forward(&self) -> String {
        let mut out = String::with_capacity(self.segments.iter().map(|s| s.len() + 1).sum());
        for segment in &self.segments {
            out.push('/');
            out.extend(utf8_percent_encode(segment, SEGMENT));
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_known_bypasses_reduce_to_the_reply_route() {
        for raw in [
            "/permission/per_x/reply",
            "/permission/per_x/REPLY",
            "/permission/per_x/%72eply",
            "/permission/per_x///reply",
            "/permission/per_x/reply;x",
            "/permission/per_x/reply%3Bx",
            "//permission/./per_x/reply/",
            "\\permission\\per_x\\reply",
            "/x/../permission/per_x/reply",
        ] {
            let path = ProxyPath::parse(raw).unwrap();
            assert!(path.is(&["permission", "per_x", "reply"]), "{raw}");
            // Case is kept when forwarding: the engine decides on it alone.
            assert!(
                path.to_forward()
                    .eq_ignore_ascii_case("/permission/per_x/reply"),
                "{raw}"
            );
        }
    }

    #[test]
    fn forwarding_escapes_what_one_decoding_would_change() {
        let path = ProxyPath::parse("/a%2525b/c%20d/%E2%9C%93").unwrap();
        assert_eq!(path.segments.as_slice(), ["a%25b", "c d", "✓"]);
        assert_eq!(path.to_forward(), "/a%2525b/c%20d/%E2%9C%93");
        assert_eq!(ProxyPath::parse("").unwrap().to_forward(), "/");
        assert_eq!(ProxyPath::parse("/../..").unwrap().to_forward(), "/");
        assert!(ProxyPath::parse("/%FF").is_err());
    }

    /// A segment written the many ways a client can: any case, any byte
    /// percent-encoded (upper or lower hex).
    fn disguise(segment: &str, case: &[bool], encode: &[bool], upper_hex: bool) -> String {
        let mut out = String::new();
        for (i, c) in segment.chars().enumerate() {
            let c = if case[i % case.len()] {
                c.to_ascii_uppercase()
            } else {
                c
            };
            // `%`, `?`, `#` and `;` mean something raw: always escaped here
            // (a raw `;` is covered by the suffix).
            if encode[i % encode.len()] || !c.is_ascii() || "%?#;".contains(c) {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    if upper_hex {
                        out.push_str(&format!("%{b:02X}"));
                    } else {
                        out.push_str(&format!("%{b:02x}"));
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn segment() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_~:@!$&'()*+,=.%;? é✓-]{1,8}"
            .prop_filter("not a dot segment", |s| s != "." && s != "..")
    }

    proptest! {
        #[test]
        fn disguised_paths_canonicalize_to_their_segments(
            segments in prop::collection::vec(segment(), 0..6),
            case in prop::collection::vec(any::<bool>(), 1..5),
            encode in prop::collection::vec(any::<bool>(), 1..5),
            upper_hex in any::<bool>(),
            slashes in prop::collection::vec(1usize..4, 7),
            suffix in prop::option::of("[a-z;=/]{0,6}"),
        ) {
            // What the path means: the segments up to the first `;`.
            let mut meant: Vec<String> = Vec::new();
            let mut rendered = String::new();
            let mut cut = false;
            for (i, s) in segments.iter().enumerate() {
                rendered.push_str(&"/".repeat(slashes[i]));
                rendered.push_str(&disguise(s, &case, &encode, upper_hex));
                if cut {
                    continue;
                }
                let shown: String = s
                    .chars()
                    .enumerate()
                    .map(|(j, c)| if case[j % case.len()] { c.to_ascii_uppercase() } else { c })
                    .collect();
                match shown.split_once(';') {
                    Some((before, _)) => {
                        cut = true;
                        if !before.is_empty() && before != "." {
                            if before == ".." { meant.pop(); } else { meant.push(before.to_owned()); }
                        }
                    }
                    None => meant.push(shown),
                }
            }
            if let Some(suffix) = &suffix {
                rendered.push(';');
                rendered.push_str(suffix);
            }
            let path = ProxyPath::parse(&rendered).unwrap();
            prop_assert_eq!(path.segments.as_slice(), meant.as_slice(), "{}", rendered);
            // What is forwarded decodes once to exactly what was judged.
            let forwarded = path.to_forward();
            prop_assert_eq!(ProxyPath::parse(&forwarded).unwrap(), path.clone());
            let once = percent_decode_str(&forwarded).decode_utf8().unwrap();
            let again: Vec<&str> = once.split('/').filter(|s| !s.is_empty()).collect();
            prop_assert_eq!(again.len(), path.segments.as_slice().len());
        }

        #[test]
        fn every_disguise_of_a_reply_is_recognised(
            id in "[a-z_0-9]{1,10}",
            case in prop::collection::vec(any::<bool>(), 1..5),
            encode in prop::collection::vec(any::<bool>(), 1..5),
            upper_hex in any::<bool>(),
            slashes in prop::collection::vec(1usize..4, 4),
            suffix in prop::option::of("[a-z=]{0,4}"),
        ) {
            let mut rendered = String::new();
            for (i, s) in ["permission", &id, "reply"].iter().enumerate() {
                rendered.push_str(&"/".repeat(slashes[i]));
                rendered.push_str(&disguise(s, &case, &encode, upper_hex));
            }
            rendered.push_str(&"/".repeat(slashes[3] - 1));
            if let Some(suffix) = suffix {
                rendered.push(';');
                rendered.push_str(&suffix);
            }
            let path = ProxyPath::parse(&rendered).unwrap();
            prop_assert!(path.mentions(&["permission"]), "{}", rendered);
            prop_assert_eq!(path.segments.as_slice().len(), 3, "{}", rendered);
        }
    }
}
