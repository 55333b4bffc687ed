//! OAuth2 scopes (RFC 6749 §3.3): space-delimited, case-sensitive, order-free.

use std::collections::BTreeSet;

pub const READ: &str = "read";
pub const WRITE: &str = "write";
/// The API scopes, granted by default when a request names none.
pub const ALL: &[&str] = &[READ, WRITE];
/// OpenID Connect Core §5.4: `openid` asks for an ID token, `profile` and `email` for claims.
pub const OPENID: &str = "openid";
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";
/// Every scope an OpenID Connect provider (Fake Social Site) knows: the API scopes and the
/// OpenID Connect ones. Only its authorization endpoint grants the latter.
pub const OPENID_PROVIDER: &[&str] = &[OPENID, PROFILE, EMAIL, READ, WRITE];

/// A validated set of scopes, printed in a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    pub fn all() -> Self {
        Scope(ALL.iter().map(|s| (*s).to_owned()).collect())
    }

    /// Parses a `scope` parameter; `None` when a token has a character RFC 6749 forbids.
    pub fn parse(value: &str) -> Option<Self> {
        let mut set = BTreeSet::new();
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            let valid = token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
            if !valid {
                return None;
            }
            set.insert(token.to_owned());
        }
        (!set.is_empty()).then_some(Scope(set))
    }

    /// A requested `scope` value: well-formed and naming only scopes these services know.
    pub fn requested(value: &str) -> Option<Self> {
        Self::parse(value).filter(|scope| scope.is_subset(&Scope::all()))
    }

    /// A requested `scope` value at an OpenID Connect authorization endpoint: well-formed and
    /// naming only [`OPENID_PROVIDER`] scopes.
    pub fn requested_openid(value: &str) -> Option<Self> {
        Self::parse(value).filter(|scope| {
            scope
                .0
                .iter()
                .all(|s| OPENID_PROVIDER.contains(&s.as_str()))
        })
    }

    /// The scopes, in the stable order they print in.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_print_in_a_stable_order_and_compare_as_sets() {
        let s = Scope::parse("write read").expect("valid");
        assert_eq!(s.to_string(), "read write");
        assert!(Scope::parse("read").expect("valid").is_subset(&s));
        assert!(!Scope::parse("admin").expect("valid").is_subset(&s));
        assert!(Scope::parse("re\"ad").is_none());
        assert!(Scope::parse("  ").is_none());
    }

    #[test]
    fn openid_scopes_are_known_only_to_an_openid_provider() {
        assert!(Scope::requested("openid read").is_none());
        let s = Scope::requested_openid("openid email profile read").expect("known");
        assert!(s.contains(OPENID) && s.contains(EMAIL));
        assert!(Scope::requested_openid("openid phone").is_none());
    }
}
