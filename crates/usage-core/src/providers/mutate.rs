//! The property every parser keeps: deleting or mistyping any single field of a recorded
//! answer never fails the provider while another part of the answer stays readable, and a
//! window lost to a mistyped field leaves a warning. Each parser names its spine: the fields
//! without which nothing is left to read (the envelope, the only window's number).

use serde_json::{json, Value};

use super::WireError;
use super::{deepseek, kimi, minimax, moonshot, opencode_go, openrouter, xai, zai};
use crate::model::FetchOutcome;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mutation {
    Delete,
    Mistype,
}

/// JSON pointers of every field and array item below the root.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(o) => o
            .iter()
            .map(|(k, c)| (k.replace('~', "~0").replace('/', "~1"), c))
            .collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, c)| (i.to_string(), c))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        let p = format!("{at}/{key}");
        out.push(p.clone());
        pointers(child, p, out);
    }
}

/// A value of another JSON type than `v`.
fn mistyped(v: &Value) -> Value {
    match v {
        Value::String(_) => json!(7),
        Value::Number(_) => json!("seven"),
        Value::Bool(_) => json!("yes"),
        Value::Null => json!({}),
        Value::Array(_) => json!("list"),
        Value::Object(_) => json!(7),
    }
}

fn mutated(body: &Value, pointer: &str, how: Mutation) -> Value {
    let mut out = body.clone();
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer below the root");
    let key = key.replace("~1", "/").replace("~0", "~");
    let target = out.pointer_mut(parent).expect("the parent exists");
    match (target, how) {
        (Value::Object(o), Mutation::Delete) => {
            o.remove(&key);
        }
        (Value::Array(a), Mutation::Delete) => {
            a.remove(key.parse::<usize>().expect("an index"));
        }
        (Value::Object(o), Mutation::Mistype) => {
            let v = o.get_mut(&key).expect("the field exists");
            *v = mistyped(v);
        }
        (Value::Array(a), Mutation::Mistype) => {
            let v = &mut a[key.parse::<usize>().expect("an index")];
            *v = mistyped(v);
        }
        _ => unreachable!("pointers only name children of containers"),
    }
    out
}

fn windows(out: &FetchOutcome) -> Vec<(String, String)> {
    out.snapshots
        .iter()
        .map(|s| (s.id.clone(), s.model_id().to_string()))
        .collect()
}

/// Runs `parse` on every single-field mutant of `body`. Returns how many mutants were tried.
fn check(
    name: &str,
    body: &Value,
    spine: &[&str],
    parse: impl Fn(&Value) -> Result<FetchOutcome, WireError>,
) -> usize {
    let base = parse(body).unwrap_or_else(|e| panic!("{name}: the body itself fails: {e:?}"));
    assert!(!base.snapshots.is_empty(), "{name}: the body has windows");
    let base_windows = windows(&base);
    let mut all = Vec::new();
    pointers(body, String::new(), &mut all);
    let mut tried = 0;
    for pointer in &all {
        for how in [Mutation::Delete, Mutation::Mistype] {
            tried += 1;
            let mutant = mutated(body, pointer, how);
            let on_spine = spine.contains(&pointer.as_str());
            match parse(&mutant) {
                Ok(out) if !out.snapshots.is_empty() => {
                    let lost: Vec<_> = base_windows
                        .iter()
                        .filter(|w| !windows(&out).contains(w))
                        .collect();
                    let warned = out.snapshots.iter().any(|s| !s.warnings.is_empty());
                    assert!(
                        how == Mutation::Delete || lost.is_empty() || warned,
                        "{name}: {how:?} {pointer} lost {lost:?} without a warning"
                    );
                }
                Ok(_) => assert!(on_spine, "{name}: {how:?} {pointer} left no window"),
                Err(e) => assert!(on_spine, "{name}: {how:?} {pointer} failed: {e:?}"),
            }
        }
    }
    tried
}

fn fixture(file: &str) -> Value {
    let path = format!(
        "{}/fixtures/current/{file}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// 2026-12-01T00:00:00Z, the fixtures' "now".
const NOW: i64 = 1_796_083_200_000;

#[test]
fn zai_survives_any_single_field() {
    let n = check(
        "zai",
        &fixture("zai-quota-limit"),
        &["/data", "/data/limits"],
        |b| zai::parse(b, "k"),
    );
    assert!(n > 50, "{n}");
}

#[test]
fn kimi_survives_any_single_field() {
    check("kimi", &fixture("kimi-coding-usages"), &[], |b| {
        kimi::parse(b, NOW)
    });
}

#[test]
fn minimax_survives_any_single_field() {
    let body = fixture("minimax-coding-plan-remains");
    let spine = [
        "/model_remains",
        "/model_remains/0",
        "/model_remains/0/model_name",
    ];
    for cn in [false, true] {
        check("minimax", &body, &spine, |b| minimax::parse(b, NOW, cn));
    }
}

#[test]
fn openrouter_survives_any_single_field() {
    check(
        "openrouter",
        &fixture("openrouter-key"),
        &["/data", "/data/limit"],
        |b| openrouter::parse(b, NOW),
    );
}

#[test]
fn xai_survives_any_single_field() {
    check(
        "xai credits",
        &fixture("xai-grok-billing-credits"),
        &[
            "/config",
            "/config/creditUsagePercent",
            "/config/currentPeriod/end",
        ],
        |b| xai::parse(b, true),
    );
    check(
        "xai monthly",
        &fixture("xai-grok-billing-monthly"),
        &["/config"],
        |b| xai::parse(b, false),
    );
}

#[test]
fn moonshot_survives_any_single_field() {
    check("moonshot", &fixture("moonshot-balance"), &["/data"], |b| {
        moonshot::parse(b, "k")
    });
}

#[test]
fn deepseek_survives_any_single_field() {
    check(
        "deepseek",
        &fixture("deepseek-balance"),
        &[
            "/balance_infos",
            "/balance_infos/0",
            "/balance_infos/0/currency",
        ],
        deepseek::parse,
    );
}

#[test]
fn opencode_go_survives_any_single_field() {
    check(
        "opencode-go",
        &fixture("opencode-go-usage"),
        &["/usage"],
        opencode_go::parse,
    );
}

#[test]
fn mutants_delete_and_retype_exactly_one_field() {
    let body = json!({"a": {"b/c": [1, "x"]}, "d": true});
    let mut all = Vec::new();
    pointers(&body, String::new(), &mut all);
    assert_eq!(all, ["/a", "/a/b~1c", "/a/b~1c/0", "/a/b~1c/1", "/d"]);
    assert_eq!(
        mutated(&body, "/a/b~1c/1", Mutation::Mistype),
        json!({"a": {"b/c": [1, 7]}, "d": true})
    );
    assert_eq!(
        mutated(&body, "/a/b~1c/0", Mutation::Delete),
        json!({"a": {"b/c": ["x"]}, "d": true})
    );
    assert_eq!(
        mutated(&body, "/d", Mutation::Mistype),
        json!({"a": {"b/c": [1, "x"]}, "d": "yes"})
    );
}
