//! Vault access and vault lock policies: parsed (rejecting what is malformed, saying why) and
//! evaluated against a request, as AWS IAM evaluates resource policies.
//!
//! Supported: `Version`, `Statement` (one or a list) with `Sid`, `Effect`, `Principal`
//! (`"*"`, `{"AWS": ...}` naming accounts as `"111122223333"` or
//! `"arn:aws:iam::111122223333:root"`), `Action`/`NotAction` and `Resource` with `*`/`?`
//! wildcards, and `Condition` with the String, Numeric, Bool and Null operators, their
//! `...IfExists` forms and the `ArnEquals`/`ArnLike` family. Principals naming IAM users or
//! roles are accepted but match no caller: identities here act as their account's root.

use serde_json::{Map, Value};

/// A parsed policy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    sid: Option<String>,
    deny: bool,
    principal: Principal,
    actions: Vec<String>,
    not_action: bool,
    resources: Vec<String>,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
enum Principal {
    Anyone,
    /// Account ids; principals of other kinds (users, roles, services) match nobody here.
    Accounts(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    Bool,
    Null,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "StringEquals" | "ArnEquals" => Op::StringEquals,
            "StringNotEquals" | "ArnNotEquals" => Op::StringNotEquals,
            "StringEqualsIgnoreCase" => Op::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Op::StringNotEqualsIgnoreCase,
            "StringLike" | "ArnLike" => Op::StringLike,
            "StringNotLike" | "ArnNotLike" => Op::StringNotLike,
            "NumericEquals" => Op::NumericEquals,
            "NumericNotEquals" => Op::NumericNotEquals,
            "NumericLessThan" => Op::NumericLessThan,
            "NumericLessThanEquals" => Op::NumericLessThanEquals,
            "NumericGreaterThan" => Op::NumericGreaterThan,
            "NumericGreaterThanEquals" => Op::NumericGreaterThanEquals,
            "Bool" => Op::Bool,
            "Null" => Op::Null,
            _ => return None,
        })
    }

    fn negated(self) -> bool {
        matches!(
            self,
            Op::StringNotEquals
                | Op::StringNotEqualsIgnoreCase
                | Op::StringNotLike
                | Op::NumericNotEquals
        )
    }

    fn numeric(self) -> bool {
        matches!(
            self,
            Op::NumericEquals
                | Op::NumericNotEquals
                | Op::NumericLessThan
                | Op::NumericLessThanEquals
                | Op::NumericGreaterThan
                | Op::NumericGreaterThanEquals
        )
    }

    /// Whether the request's `actual` value matches the policy's `wanted` one (before negation).
    fn matches(self, actual: &str, wanted: &str) -> bool {
        match self {
            Op::StringEquals | Op::StringNotEquals => actual == wanted,
            Op::StringEqualsIgnoreCase | Op::StringNotEqualsIgnoreCase => {
                actual.eq_ignore_ascii_case(wanted)
            }
            Op::StringLike | Op::StringNotLike => glob(wanted, actual, false),
            Op::Bool => actual.eq_ignore_ascii_case(wanted),
            Op::Null => false,
            numeric => {
                let (Ok(a), Ok(w)) = (actual.parse::<f64>(), wanted.parse::<f64>()) else {
                    return false;
                };
                match numeric {
                    Op::NumericEquals | Op::NumericNotEquals => a == w,
                    Op::NumericLessThan => a < w,
                    Op::NumericLessThanEquals => a <= w,
                    Op::NumericGreaterThan => a > w,
                    _ => a >= w,
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    op: Op,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

impl Condition {
    fn holds(&self, request: &Request<'_>) -> bool {
        let actual = request.context(&self.key);
        if self.op == Op::Null {
            // Null: "true" means the key must be absent.
            return self
                .values
                .iter()
                .any(|v| v.eq_ignore_ascii_case("true") == actual.is_none());
        }
        let Some(actual) = actual else {
            return self.if_exists || self.op.negated();
        };
        let any = self.values.iter().any(|w| self.op.matches(&actual, w));
        any != self.op.negated()
    }
}

/// What a request asks, as policies see it.
pub(crate) struct Request<'a> {
    /// The caller's account.
    pub account: &'a str,
    /// `glacier:DeleteArchive`, ...
    pub action: &'a str,
    /// The vault's ARN.
    pub resource: &'a str,
    /// Condition keys (as [`context_key`] makes them) and their values.
    pub context: &'a [(String, String)],
}

impl Request<'_> {
    fn context(&self, key: &str) -> Option<String> {
        let key = context_key(key);
        self.context
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }
}

/// A condition key as [`Request::context`] holds it: case-insensitive, except for what follows
/// a `/` (the tag key of `glacier:ResourceTag/<key>`).
pub(crate) fn context_key(key: &str) -> String {
    match key.split_once('/') {
        Some((prefix, rest)) => format!("{}/{rest}", prefix.to_ascii_lowercase()),
        None => key.to_ascii_lowercase(),
    }
}

/// The outcome of evaluating one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A statement denies the request (its Sid, if it has one).
    Deny(Option<String>),
    Allow,
    /// No statement applies.
    NotApplicable,
}

/// `*` matches any run of characters, `?` any one.
pub(crate) fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let eq = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn strings(value: &Value, what: &str) -> Result<Vec<String>, String> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "{what} must be a string or a list of strings, not {other}"
        )),
    };
    match value {
        Value::Array(items) if items.is_empty() => Err(format!("{what} must not be empty")),
        Value::Array(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

fn account_of(principal: &str) -> Option<String> {
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        return Some(principal.to_owned());
    }
    let rest = principal.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    (resource == "root").then(|| account.to_owned())
}

fn parse_principal(value: &Value) -> Result<Principal, String> {
    match value {
        Value::String(s) if s == "*" => Ok(Principal::Anyone),
        Value::Object(map) => {
            let mut accounts = Vec::new();
            for (kind, v) in map {
                let names = strings(v, &format!("Principal {kind}"))?;
                if kind == "AWS" {
                    if names.iter().any(|n| n == "*") {
                        return Ok(Principal::Anyone);
                    }
                    for n in &names {
                        if !n.starts_with("arn:") && account_of(n).is_none() {
                            return Err(format!(
                                "Invalid principal {n:?}: name an account id, an IAM ARN or \"*\""
                            ));
                        }
                    }
                    accounts.extend(names.iter().filter_map(|n| account_of(n)));
                }
            }
            Ok(Principal::Accounts(accounts))
        }
        other => Err(format!(
            "Principal must be \"*\" or an object such as {{\"AWS\": \"arn:aws:iam::111122223333:root\"}}, not {other}"
        )),
    }
}

fn parse_conditions(value: &Value) -> Result<Vec<Condition>, String> {
    let Value::Object(ops) = value else {
        return Err("Condition must be an object of operators".into());
    };
    let mut out = Vec::new();
    for (name, keys) in ops {
        if name.starts_with("ForAnyValue:") || name.starts_with("ForAllValues:") {
            return Err(format!(
                "Condition operator {name}: set operators are not supported; the Glacier condition keys have one value"
            ));
        }
        let (base, if_exists) = match name.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (name.as_str(), false),
        };
        let op = Op::parse(base).ok_or_else(|| {
            format!("Unknown condition operator {name:?} (String*, Numeric*, Bool, Null, Arn*)")
        })?;
        let Value::Object(keys) = keys else {
            return Err(format!(
                "Condition {name} must map condition keys to values"
            ));
        };
        for (key, v) in keys {
            let values = strings(v, &format!("Condition {name} {key}"))?;
            if op.numeric()
                && let Some(bad) = values.iter().find(|v| v.parse::<f64>().is_err())
            {
                return Err(format!("Condition {name} {key}: {bad:?} is not a number"));
            }
            if matches!(op, Op::Bool | Op::Null)
                && let Some(bad) = values
                    .iter()
                    .find(|v| !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false"))
            {
                return Err(format!(
                    "Condition {name} {key}: {bad:?} is not true or false"
                ));
            }
            out.push(Condition {
                op,
                if_exists,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

fn parse_statement(i: usize, value: &Value) -> Result<Statement, String> {
    let Value::Object(map) = value else {
        return Err(format!("Statement {i} must be an object"));
    };
    let at = |msg: String| format!("Statement {}: {msg}", i);
    for key in map.keys() {
        if !matches!(
            key.as_str(),
            "Sid" | "Effect" | "Principal" | "Action" | "NotAction" | "Resource" | "Condition"
        ) {
            return Err(at(format!(
                "unsupported element {key:?} (Sid, Effect, Principal, Action, NotAction, Resource, Condition)"
            )));
        }
    }
    let get = |k: &str| map.get(k);
    let sid = match get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(at("Sid must be a string".into())),
    };
    let deny = match get("Effect").and_then(Value::as_str) {
        Some("Allow") => false,
        Some("Deny") => true,
        Some(other) => return Err(at(format!("Effect must be Allow or Deny, not {other:?}"))),
        None => return Err(at("Effect is missing".into())),
    };
    let principal = parse_principal(get("Principal").ok_or_else(|| {
        at("Principal is missing; a vault policy names who it applies to".into())
    })?)
    .map_err(at)?;
    let (actions, not_action) = match (get("Action"), get("NotAction")) {
        (Some(a), None) => (strings(a, "Action").map_err(at)?, false),
        (None, Some(a)) => (strings(a, "NotAction").map_err(at)?, true),
        (Some(_), Some(_)) => return Err(at("use Action or NotAction, not both".into())),
        (None, None) => return Err(at("Action is missing".into())),
    };
    for a in &actions {
        if a != "*" && !a.to_ascii_lowercase().starts_with("glacier:") {
            return Err(at(format!(
                "Action {a:?} is not a Glacier action (glacier:...)"
            )));
        }
    }
    let resources = strings(
        get("Resource").ok_or_else(|| at("Resource is missing".into()))?,
        "Resource",
    )
    .map_err(at)?;
    for r in &resources {
        if r != "*" && !r.starts_with("arn:aws:glacier:") {
            return Err(at(format!(
                "Resource {r:?} is not a Glacier vault ARN (arn:aws:glacier:REGION:ACCOUNT:vaults/NAME)"
            )));
        }
    }
    let conditions = match get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c).map_err(at)?,
    };
    Ok(Statement {
        sid,
        deny,
        principal,
        actions,
        not_action,
        resources,
        conditions,
    })
}

impl Policy {
    /// Parses a policy document; the error says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Policy, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("Policy is not valid JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err("Policy must be a JSON object".into());
        };
        Policy::from_map(&map)
    }

    fn from_map(map: &Map<String, Value>) -> Result<Policy, String> {
        for key in map.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(format!(
                    "Policy has an unsupported element {key:?} (Version, Id, Statement)"
                ));
            }
        }
        match map.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(v) => {
                return Err(format!(
                    "Policy Version must be \"2012-10-17\" or \"2008-10-17\", not {v}"
                ));
            }
        }
        let statements = match map.get("Statement") {
            None => return Err("Policy has no Statement".into()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, s)| parse_statement(i, s))
                .collect::<Result<Vec<_>, _>>()?,
            Some(s @ Value::Object(_)) => vec![parse_statement(0, s)?],
            Some(_) => return Err("Policy Statement must be an object or a list of objects".into()),
        };
        Ok(Policy { statements })
    }

    /// Whether a statement of this policy allows the account anything at all: whether the
    /// account may know the vault exists.
    /// Whether a condition of the policy reads a key starting with `prefix` (`glacier:ResourceTag/`,
    /// `glacier:ArchiveAgeInDays`): a request need not look up what no condition reads.
    pub(crate) fn reads(&self, prefix: &str) -> bool {
        let prefix = prefix.to_ascii_lowercase();
        self.statements
            .iter()
            .flat_map(|s| &s.conditions)
            .any(|c| c.key.to_ascii_lowercase().starts_with(&prefix))
    }

    pub(crate) fn grants_any(&self, account: &str) -> bool {
        self.statements
            .iter()
            .any(|s| !s.deny && s.principal_matches(account))
    }

    /// Evaluates the request: an explicit deny wins over any allow.
    pub(crate) fn evaluate(&self, request: &Request<'_>) -> Decision {
        let mut decision = Decision::NotApplicable;
        for s in &self.statements {
            if !s.applies(request) {
                continue;
            }
            if s.deny {
                return Decision::Deny(s.sid.clone());
            }
            decision = Decision::Allow;
        }
        decision
    }
}

impl Statement {
    fn principal_matches(&self, account: &str) -> bool {
        match &self.principal {
            Principal::Anyone => true,
            Principal::Accounts(a) => a.iter().any(|x| x == account),
        }
    }

    fn applies(&self, r: &Request<'_>) -> bool {
        let action = self.actions.iter().any(|a| glob(a, r.action, true)) != self.not_action;
        action
            && self.principal_matches(r.account)
            && self.resources.iter().any(|p| glob(p, r.resource, false))
            && self.conditions.iter().all(|c| c.holds(r))
    }
}

#[cfg(test)]
mod tests;
