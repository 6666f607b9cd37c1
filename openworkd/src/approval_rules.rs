//! Approval rules (`approval.rules` in server.json): the first rule whose
//! every `match` field holds decides a write (`allow`, `deny`, or `ask` the
//! host whatever the mode); when none matches, the mode decides. Rules are
//! checked while the config file is read, so a bad rule stops the start (or
//! is refused on reload) with the file's line.

use crate::pipeline::Action;
use globset::{Glob, GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

impl RuleDecision {
    pub fn verdict(self) -> openwork_shared::models::Verdict {
        use openwork_shared::models::Verdict;
        match self {
            RuleDecision::Allow => Verdict::Allow,
            RuleDecision::Deny => Verdict::Deny,
            RuleDecision::Ask => Verdict::Ask,
        }
    }
}

/// What a rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleDecision {
    Allow,
    Deny,
    /// Ask the host, even in auto mode.
    Ask,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default, rename = "match")]
    matches: RawMatch,
    decision: RuleDecision,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawMatch {
    action: Option<String>,
    workspace: Option<String>,
    scope: Option<String>,
    token: Option<String>,
    paths: Option<Vec<String>>,
    max_bytes: Option<u64>,
}

/// One checked rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawRule")]
pub struct Rule {
    pub name: String,
    pub decision: RuleDecision,
    action: Option<GlobMatcher>,
    workspace: Option<String>,
    scope: Option<String>,
    token: Option<String>,
    paths: Option<Vec<GlobMatcher>>,
    max_bytes: Option<u64>,
}

/// The scopes a rule can name: a token's, or `host` for the host token.
pub const SCOPES: [&str; 4] = ["owner", "collaborator", "viewer", "host"];

impl TryFrom<RawRule> for Rule {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Rule, String> {
        let name = raw.name.trim().to_owned();
        if name.is_empty() {
            return Err("an approval rule needs a non-empty \"name\"".into());
        }
        let problem = |what: String| format!("approval rule {name:?}: {what}");
        let m = raw.matches;
        let action = match m.action {
            Some(pattern) => {
                let glob = Glob::new(&pattern)
                    .map_err(|e| problem(format!("action {pattern:?} is not a glob: {e}")))?
                    .compile_matcher();
                if !Action::ALL.iter().any(|a| glob.is_match(a.as_str())) {
                    let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
                    return Err(problem(format!(
                        "action {pattern:?} matches no action (actions: {})",
                        known.join(", ")
                    )));
                }
                Some(glob)
            }
            None => None,
        };
        if let Some(scope) = &m.scope
            && !SCOPES.contains(&scope.as_str())
        {
            return Err(problem(format!(
                "scope {scope:?} is not one of {}",
                SCOPES.join(", ")
            )));
        }
        let paths = match m.paths {
            Some(patterns) if patterns.is_empty() => {
                return Err(problem(
                    "\"paths\" is empty; leave it out to match any path".into(),
                ));
            }
            Some(patterns) => Some(
                patterns
                    .iter()
                    .map(|p| path_glob(p).map_err(|e| problem(format!("path {p:?}: {e}"))))
                    .collect::<Result<_, _>>()?,
            ),
            None => None,
        };
        let blank = |field: &str, value: &Option<String>| match value {
            Some(v) if v.trim().is_empty() => Err(problem(format!("{field} is empty"))),
            _ => Ok(()),
        };
        blank("workspace", &m.workspace)?;
        blank("token", &m.token)?;
        Ok(Rule {
            name,
            decision: raw.decision,
            action,
            workspace: m.workspace.map(|w| w.trim_end_matches('/').to_owned()),
            scope: m.scope,
            token: m.token,
            paths,
            max_bytes: m.max_bytes,
        })
    }
}

/// serde_json places an error in a rule where the rule ends; name the line
/// where the rule's name is instead (the rest of the message stays).
pub fn locate_error(text: &str, err: &serde_json::Error) -> String {
    let message = err.to_string();
    let located = || {
        let rest = message.strip_prefix("approval rule \"")?;
        let name = &rest[..rest.find("\": ")?];
        let rules = text.find("\"rules\"")?;
        let at = rules + text[rules..].find(&format!("\"{name}\""))?;
        let line = text[..at].matches('\n').count() + 1;
        let cut = message.rfind(" at line ")?;
        Some(format!("{} at line {line}", &message[..cut]))
    };
    located().unwrap_or(message.clone())
}

/// A glob over workspace-relative paths: `*` stays within a folder, `**`
/// crosses folders.
fn path_glob(pattern: &str) -> Result<GlobMatcher, String> {
    if pattern.starts_with('/') || pattern.split('/').any(|s| s == "..") {
        return Err("paths are relative to the workspace, without `..`".into());
    }
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.to_string())
}

/// What a rule looks at in a write.
pub struct Subject<'a> {
    pub action: &'a str,
    pub workspace_id: &'a str,
    pub workspace_path: &'a str,
    /// The token's scope, or `host`.
    pub scope: Option<&'a str>,
    /// Names the token goes by: its id and its label.
    pub token: Vec<&'a str>,
    /// Workspace-relative paths the write touches.
    pub paths: &'a [String],
    /// Bytes the write brings, when known.
    pub bytes: Option<u64>,
}

impl Rule {
    fn matches(&self, s: &Subject) -> bool {
        self.action.as_ref().is_none_or(|g| g.is_match(s.action))
            && self
                .workspace
                .as_ref()
                .is_none_or(|w| w == s.workspace_id || w == s.workspace_path)
            && self
                .scope
                .as_deref()
                .is_none_or(|scope| s.scope == Some(scope))
            && self
                .token
                .as_ref()
                .is_none_or(|t| s.token.iter().any(|name| name == t))
            && self.paths.as_ref().is_none_or(|globs| {
                !s.paths.is_empty() && s.paths.iter().all(|p| globs.iter().any(|g| g.is_match(p)))
            })
            && self
                .max_bytes
                .is_none_or(|max| s.bytes.is_some_and(|b| b <= max))
    }
}

/// The rule set, in order; names are unique.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "Vec<Rule>")]
pub struct Rules(Arc<[Rule]>);

impl TryFrom<Vec<Rule>> for Rules {
    type Error = String;

    fn try_from(rules: Vec<Rule>) -> Result<Rules, String> {
        for (i, rule) in rules.iter().enumerate() {
            if rules[..i].iter().any(|r| r.name == rule.name) {
                return Err(format!("two approval rules are named {:?}", rule.name));
            }
        }
        Ok(Rules(rules.into()))
    }
}

impl Rules {
    /// The first rule that matches.
    pub fn first_match(&self, subject: &Subject) -> Option<&Rule> {
        self.0.iter().find(|r| r.matches(subject))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: serde_json::Value) -> Result<Rules, String> {
        serde_json::from_value(json).map_err(|e| e.to_string())
    }

    fn subject<'a>(action: &'a str, paths: &'a [String]) -> Subject<'a> {
        Subject {
            action,
            workspace_id: "ws_1",
            workspace_path: "/w",
            scope: Some("collaborator"),
            token: vec![],
            paths,
            bytes: Some(10),
        }
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let cases = [
            (
                serde_json::json!([{"name": "x", "match": {"action": "plugin.*"}, "decision": "deny"}]),
                "matches no action",
            ),
            (
                serde_json::json!([{"name": "x", "match": {"scope": "admin"}, "decision": "deny"}]),
                "scope \"admin\"",
            ),
            (
                serde_json::json!([{"name": "x", "match": {"paths": ["/etc/*"]}, "decision": "deny"}]),
                "relative",
            ),
            (
                serde_json::json!([{"name": "x", "match": {"paths": ["a/[b"]}, "decision": "deny"}]),
                "path \"a/[b\"",
            ),
            (
                serde_json::json!([{"name": "x", "decision": "maybe"}]),
                "unknown variant",
            ),
            (
                serde_json::json!([{"name": "x", "match": {"acton": "x"}, "decision": "deny"}]),
                "unknown field",
            ),
            (
                serde_json::json!([{"name": " ", "decision": "deny"}]),
                "non-empty",
            ),
            (
                serde_json::json!([{"name": "x", "decision": "deny"}, {"name": "x", "decision": "allow"}]),
                "two approval rules",
            ),
        ];
        for (json, says) in cases {
            let err = rules(json.clone()).unwrap_err();
            assert!(err.contains(says), "{json}: {err}");
        }
    }

    #[test]
    fn path_globs_keep_to_folders_unless_doubled() {
        let set = rules(serde_json::json!([
            {"name": "docs", "match": {"paths": ["docs/*.md"]}, "decision": "allow"},
            {"name": "deep", "match": {"paths": ["notes/**"]}, "decision": "allow"}
        ]))
        .unwrap();
        let decide = |paths: &[&str]| {
            let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            set.first_match(&subject("skills.upsert", &paths))
                .map(|r| r.name.clone())
        };
        assert_eq!(decide(&["docs/a.md"]).as_deref(), Some("docs"));
        assert_eq!(decide(&["docs/sub/a.md"]), None);
        assert_eq!(decide(&["notes/a/b/c.txt"]).as_deref(), Some("deep"));
        assert_eq!(
            decide(&["docs/a.md", "src/x.rs"]),
            None,
            "every path must match"
        );
        assert_eq!(
            decide(&[]),
            None,
            "a write without paths matches no paths rule"
        );
    }
}
