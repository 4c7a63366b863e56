//! Policy parsing and evaluation, case by case.

use super::*;

const VAULT: &str = "arn:aws:glacier:us-east-1:111122223333:vaults/examplevault";

fn request<'a>(account: &'a str, action: &'a str, context: &'a [(String, String)]) -> Request<'a> {
    Request {
        account,
        action,
        resource: VAULT,
        context,
    }
}

fn ctx(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (context_key(k), v.to_string()))
        .collect()
}

#[test]
fn the_vault_lock_example_denies_young_archives() {
    let p = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"deny-based-on-archive-age","Principal":"*","Effect":"Deny","Action":"glacier:DeleteArchive","Resource":["arn:aws:glacier:us-east-1:111122223333:vaults/examplevault"],"Condition":{"NumericLessThan":{"glacier:ArchiveAgeInDays":"365"}}}]}"#,
    )
    .unwrap();
    let young = ctx(&[("glacier:ArchiveAgeInDays", "0")]);
    let old = ctx(&[("glacier:ArchiveAgeInDays", "400")]);
    assert_eq!(
        p.evaluate(&request("111122223333", "glacier:DeleteArchive", &young)),
        Decision::Deny(Some("deny-based-on-archive-age".into()))
    );
    assert_eq!(
        p.evaluate(&request("111122223333", "glacier:DeleteArchive", &old)),
        Decision::NotApplicable
    );
    assert_eq!(
        p.evaluate(&request("111122223333", "glacier:UploadArchive", &young)),
        Decision::NotApplicable
    );
    assert!(
        p.reads("glacier:ArchiveAgeInDays"),
        "what the request must carry"
    );
    assert!(!p.reads("glacier:ResourceTag/"), "what it need not look up");
}

#[test]
fn principals_actions_resources_conditions() {
    let p = Policy::parse(
        r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root","777788889999"]},
             "Action":["glacier:Describe*","glacier:List?obs"],"Resource":"arn:aws:glacier:*:111122223333:vaults/example*"},
            {"Effect":"Deny","Principal":{"AWS":"*"},"Action":"glacier:*",
             "Resource":"*","Condition":{"StringEquals":{"glacier:ResourceTag/Stage":"frozen"}}},
            {"Effect":"Deny","Principal":"*","NotAction":["glacier:Describe*","glacier:List*"],
             "Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}
        ]}"#,
    )
    .unwrap();
    let mfa = ctx(&[("aws:MultiFactorAuthPresent", "false")]);
    assert_eq!(
        p.evaluate(&request("444455556666", "glacier:DescribeVault", &mfa)),
        Decision::Allow
    );
    assert_eq!(
        p.evaluate(&request("777788889999", "glacier:ListJobs", &mfa)),
        Decision::Allow
    );
    assert_eq!(
        p.evaluate(&request("999999999999", "glacier:DescribeVault", &mfa)),
        Decision::NotApplicable
    );
    assert_eq!(
        p.evaluate(&request("444455556666", "glacier:DeleteArchive", &mfa)),
        Decision::Deny(None)
    );
    let frozen = ctx(&[("aws:MultiFactorAuthPresent", "false")])
        .into_iter()
        .chain(ctx(&[("glacier:ResourceTag/Stage", "frozen")]))
        .collect::<Vec<_>>();
    assert_eq!(
        p.evaluate(&request("444455556666", "glacier:describevault", &frozen)),
        Decision::Deny(None)
    );
    assert!(p.grants_any("777788889999"));
    assert!(!p.grants_any("999999999999"));
}

#[test]
fn absent_keys_and_negation() {
    let cond = |json: &str| {
        Policy::parse(&format!(
            r#"{{"Statement":{{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{json}}}}}"#
        ))
        .unwrap()
    };
    let none: Vec<(String, String)> = Vec::new();
    let r = request("1", "glacier:DeleteArchive", &none);
    let deny = Decision::Deny(None);
    assert_eq!(
        cond(r#"{"StringEquals":{"aws:x":"a"}}"#).evaluate(&r),
        Decision::NotApplicable
    );
    assert_eq!(
        cond(r#"{"StringNotEquals":{"aws:x":"a"}}"#).evaluate(&r),
        deny
    );
    assert_eq!(
        cond(r#"{"NumericLessThanIfExists":{"aws:x":"1"}}"#).evaluate(&r),
        deny
    );
    assert_eq!(cond(r#"{"Null":{"aws:x":"true"}}"#).evaluate(&r), deny);
    let some = ctx(&[("glacier:ArchiveAgeInDays", "30")]);
    let r = request("1", "glacier:DeleteArchive", &some);
    assert_eq!(
        cond(r#"{"NumericGreaterThanEquals":{"glacier:ArchiveAgeInDays":30}}"#).evaluate(&r),
        deny
    );
    assert_eq!(
        cond(r#"{"NumericGreaterThan":{"glacier:ArchiveAgeInDays":30}}"#).evaluate(&r),
        Decision::NotApplicable
    );
    assert_eq!(
        cond(r#"{"NumericNotEquals":{"glacier:ArchiveAgeInDays":["30","31"]}}"#).evaluate(&r),
        Decision::NotApplicable
    );
    assert_eq!(
        cond(r#"{"Null":{"glacier:ArchiveAgeInDays":"false"}}"#).evaluate(&r),
        deny
    );
}

#[test]
fn malformed_policies_say_why() {
    for (text, why) in [
        ("{", "not valid JSON"),
        ("[]", "JSON object"),
        ("{}", "no Statement"),
        (r#"{"Version":"2020-01-01","Statement":[]}"#, "Version"),
        (
            r#"{"Statement":[{"Principal":"*","Action":"*","Resource":"*"}]}"#,
            "Effect is missing",
        ),
        (
            r#"{"Statement":[{"Effect":"Permit","Principal":"*","Action":"*","Resource":"*"}]}"#,
            "Allow or Deny",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            "Principal is missing",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#,
            "not a Glacier action",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*"}]}"#,
            "Resource is missing",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:s3:::b"}]}"#,
            "vault ARN",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"Approximately":{"a":"b"}}}]}"#,
            "Unknown condition operator",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"glacier:ArchiveAgeInDays":"soon"}}}]}"#,
            "not a number",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"*","Resource":"*"}]}"#,
            "Invalid principal",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Effects":"x"}]}"#,
            "unsupported element",
        ),
    ] {
        let err = Policy::parse(text).unwrap_err();
        assert!(err.contains(why), "{text}: {err}");
    }
}

#[test]
fn globs() {
    assert!(glob("glacier:*", "glacier:DeleteArchive", true));
    assert!(glob("GLACIER:delete?rchive", "glacier:DeleteArchive", true));
    assert!(!glob("glacier:Delete", "glacier:DeleteArchive", true));
    assert!(glob("a*b*c", "aXXbYYc", false));
    assert!(!glob("a*b*c", "aXXbYY", false));
    assert!(glob("*", "", false));
}
