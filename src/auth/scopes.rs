//! Which scopes a request needs, and whether granted scopes cover them (with the scope
//! hierarchy of `auth_scope_implies`: a broader scope implies narrower ones, as MCP
//! 2026-07-28 asks servers to account for).

use std::collections::HashMap;

/// One `auth_scope` rule: requests of `method` (and, if given, naming `name`: the tool of a
/// `tools/call`, the prompt of `prompts/get`, the URI of `resources/read`) need `scopes`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    method: String,
    name: Option<String>,
    scopes: Vec<String>,
}

/// The scope policy, built once at start-up.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Needed for every `/mcp` request (`auth_required_scopes`).
    required: Vec<String>,
    rules: Vec<Rule>,
    /// narrow scope → every scope that implies it (transitively).
    implied_by: HashMap<String, Vec<String>>,
}

fn words(s: &str) -> Vec<String> {
    s.split_ascii_whitespace().map(str::to_string).collect()
}

impl Policy {
    /// Parses the settings: `rules` are `method[:name]=scope [scope …]`, `implies` are
    /// `broad>narrow`. Errors name what is wrong.
    pub fn new(required: &[String], rules: &[String], implies: &[String]) -> Result<Policy, (&'static str, String)> {
        let mut policy = Policy { required: required.iter().flat_map(|s| words(s)).collect(), ..Policy::default() };
        for r in rules {
            let Some((left, right)) = r.split_once('=') else {
                return Err((
                    "auth_scope",
                    format!("`{r}` is not METHOD[:NAME]=SCOPE (e.g. tools/call:weather=mcp:weather)"),
                ));
            };
            let (method, name) = match left.trim().split_once(':') {
                Some((m, n)) => (m.trim(), Some(n.trim().to_string())),
                None => (left.trim(), None),
            };
            let scopes = words(right);
            if method.is_empty() || scopes.is_empty() || name.as_deref() == Some("") {
                return Err(("auth_scope", format!("`{r}` needs a method and at least one scope")));
            }
            policy.rules.push(Rule { method: method.to_string(), name, scopes });
        }
        let mut direct: HashMap<String, Vec<String>> = HashMap::new();
        for pair in implies {
            let Some((broad, narrow)) = pair.split_once('>') else {
                return Err(("auth_scope_implies", format!("`{pair}` is not BROAD>NARROW (e.g. mcp:admin>mcp:tools)")));
            };
            let (broad, narrow) = (broad.trim(), narrow.trim());
            if broad.is_empty() || narrow.is_empty() {
                return Err(("auth_scope_implies", format!("`{pair}` has an empty scope")));
            }
            direct.entry(narrow.to_string()).or_default().push(broad.to_string());
        }
        // The transitive closure, per narrow scope (the lists are short; cycles are harmless).
        for narrow in direct.keys() {
            let mut seen: Vec<String> = Vec::new();
            let mut todo = vec![narrow.clone()];
            while let Some(s) = todo.pop() {
                for b in direct.get(&s).into_iter().flatten() {
                    if !seen.contains(b) && b != narrow {
                        seen.push(b.clone());
                        todo.push(b.clone());
                    }
                }
            }
            policy.implied_by.insert(narrow.clone(), seen);
        }
        Ok(policy)
    }

    /// The scopes every request needs (`auth_required_scopes`).
    pub fn required(&self) -> &[String] {
        &self.required
    }

    /// Whether any rule looks at requests' method (so a session-era POST body must be read).
    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Every scope a request of `method` naming `name` needs: the required ones, then those
    /// of the matching rules, without repeats. `offline_access` is never asked for.
    pub fn needed(&self, method: Option<&str>, name: Option<&str>) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let rules = self
            .rules
            .iter()
            .filter(|r| Some(r.method.as_str()) == method && r.name.as_deref().is_none_or(|n| Some(n) == name));
        for s in self.required.iter().chain(rules.flat_map(|r| r.scopes.iter())) {
            if s != "offline_access" && !out.contains(&s.as_str()) {
                out.push(s);
            }
        }
        out
    }

    /// Whether `granted` covers `scope`, directly or by a broader scope.
    pub fn covers(&self, granted: &[String], scope: &str) -> bool {
        granted.iter().any(|g| g == scope)
            || self.implied_by.get(scope).is_some_and(|broad| broad.iter().any(|b| granted.contains(b)))
    }

    /// The needed scopes `granted` does not cover: empty when the request may go on. The 403
    /// challenge lists all `needed` scopes, not only these (one challenge per operation).
    pub fn missing<'a>(&self, granted: &[String], needed: &[&'a str]) -> Vec<&'a str> {
        needed.iter().copied().filter(|s| !self.covers(granted, s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rules_match_method_and_name() {
        let p = Policy::new(
            &v(&["mcp"]),
            &v(&["tools/call:weather=mcp:weather", "resources/read=mcp:read offline_access", "tools/call=mcp:tools"]),
            &[],
        )
        .unwrap();
        assert_eq!(p.needed(Some("tools/call"), Some("weather")), ["mcp", "mcp:weather", "mcp:tools"]);
        assert_eq!(p.needed(Some("tools/call"), Some("echo")), ["mcp", "mcp:tools"]);
        assert_eq!(p.needed(Some("resources/read"), Some("file:///a")), ["mcp", "mcp:read"]);
        assert_eq!(p.needed(None, None), ["mcp"]);
    }

    #[test]
    fn hierarchy_is_transitive() {
        let p = Policy::new(&[], &[], &v(&["mcp:admin>mcp:tools", "mcp:tools>mcp:weather"])).unwrap();
        assert!(p.covers(&v(&["mcp:admin"]), "mcp:weather"));
        assert!(p.covers(&v(&["mcp:tools"]), "mcp:weather"));
        assert!(!p.covers(&v(&["mcp:weather"]), "mcp:tools"));
        assert_eq!(p.missing(&v(&["mcp:tools"]), &["mcp:weather", "mcp:admin"]), ["mcp:admin"]);
    }

    #[test]
    fn malformed_entries_are_named() {
        assert_eq!(Policy::new(&[], &v(&["tools/call"]), &[]).unwrap_err().0, "auth_scope");
        assert_eq!(Policy::new(&[], &[], &v(&["a-b"])).unwrap_err().0, "auth_scope_implies");
    }
}
