use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a bearer token may do. Ordered: viewer < collaborator < owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Viewer,
    Collaborator,
    Owner,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Owner, Scope::Collaborator, Scope::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Viewer => "viewer",
            Scope::Collaborator => "collaborator",
            Scope::Owner => "owner",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "viewer" => Ok(Scope::Viewer),
            "collaborator" => Ok(Scope::Collaborator),
            "owner" => Ok(Scope::Owner),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_ranked() {
        assert!(Scope::Viewer < Scope::Collaborator);
        assert!(Scope::Collaborator < Scope::Owner);
        assert_eq!("owner".parse::<Scope>(), Ok(Scope::Owner));
        assert!("root".parse::<Scope>().is_err());
    }
}
