//! The recorded answers under `fixtures/corpus/` read straight through each service's parser:
//! the window ids, models, warnings and errors their `.expect.json` names, and three
//! properties over every body:
//! - polled twice at different times, an answer keeps every window id;
//! - deleting or mistyping any one field never fails the provider while another part of the
//!   answer stays readable (the part it broke may be lost, with a warning);
//! - nothing panics, whatever the mutation.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{builtin, Account, ParseContext, WireError};
use crate::credentials::{CredentialKind, Credentials};
use crate::model::FetchOutcome;

/// 2026-12-01T00:00:00Z, the reference instant of the current fixtures.
const NOW: i64 = 1_796_083_200_000;

struct Case {
    provider: String,
    name: String,
    body: Vec<u8>,
    expect: Value,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus")
}

/// Every body case (header captures are the header parsers' and the Node suite's).
fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("fixtures/corpus exists")
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    dirs.sort_by_key(|e| e.file_name());
    for dir in dirs {
        let provider = dir.file_name().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        files.sort_by_key(|e| e.file_name());
        for f in files {
            let file = f.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_suffix(".json") else {
                continue;
            };
            if name.ends_with(".expect") || name.ends_with(".headers") {
                continue;
            }
            let expect = std::fs::read(dir.path().join(format!("{name}.expect.json")))
                .unwrap_or_else(|_| panic!("{provider}/{name}: no expect file"));
            out.push(Case {
                provider: provider.clone(),
                name: name.to_string(),
                body: std::fs::read(f.path()).unwrap(),
                expect: serde_json::from_slice(&expect).unwrap(),
            });
        }
    }
    out
}

fn parse(provider: &str, body: &[u8], now_ms: i64) -> Result<FetchOutcome, WireError> {
    let spec = builtin(provider).unwrap_or_else(|| panic!("{provider}: not a built-in"));
    let credentials = Credentials::new("t", CredentialKind::OAuth);
    // The account request has been answered (a project or account slug known), as it is
    // whenever the usage endpoint is asked; the corpus holds the usage answers.
    let account = Account {
        plan: None,
        project: Some("corpus-account".into()),
    };
    spec.wire.parse(
        body,
        &ParseContext {
            now_ms,
            credentials: &credentials,
            account: &account,
            attempt: 0,
        },
    )
}

fn default_ids(out: &FetchOutcome) -> BTreeSet<String> {
    out.snapshots
        .iter()
        .filter(|s| s.model_id.is_none())
        .map(|s| s.id.clone())
        .collect()
}

fn models(out: &FetchOutcome) -> BTreeSet<String> {
    out.snapshots
        .iter()
        .filter_map(|s| s.model_id.clone())
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// The parsers agree with what the Node suite asserts through the addon: ids, models,
/// warnings, and whether the fetch fails. (The plan of the Google services comes from the
/// account request, not the body, so it is not compared here.)
#[test]
fn corpus_bodies_read_through_the_parsers() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} body cases", cases.len());
    for c in &cases {
        let at = format!("{}/{}", c.provider, c.name);
        let result = parse(&c.provider, &c.body, NOW);
        // A summary with nothing readable sends the client on to the per-model endpoint:
        // the windows expected are that endpoint's (the addon test checks them).
        if c.expect["endpoint"] == "summary" && result.is_err() {
            assert!(
                !keys(&c.expect["models"]).is_empty(),
                "{at}: falls back, so it expects the fallback's models"
            );
            continue;
        }
        match (result, c.expect["error"].is_null()) {
            (Ok(out), true) => {
                assert_eq!(default_ids(&out), keys(&c.expect["windows"]), "{at}: ids");
                assert_eq!(models(&out), keys(&c.expect["models"]), "{at}: models");
                let warnings = out.snapshots.first().map_or(0, |s| s.warnings.len());
                let expected = c.expect["warnings"].as_array().map_or(0, Vec::len);
                assert_eq!(
                    warnings,
                    expected,
                    "{at}: warnings {:?}",
                    out.snapshots.first().map(|s| &s.warnings)
                );
                if !c.expect["plan"].is_null() && !c.provider.starts_with("google-") {
                    assert_eq!(out.plan.as_deref(), c.expect["plan"].as_str(), "{at}: plan");
                }
            }
            (Err(e), false) => {
                let msg = match e {
                    WireError::Shape(m) => m,
                    other => format!("{other:?}"),
                };
                let want = c.expect["error"]["contains"].as_str().unwrap_or_default();
                assert!(msg.contains(want), "{at}: error {msg:?} lacks {want:?}");
            }
            (Ok(out), false) => panic!("{at}: expected an error, read {:?}", default_ids(&out)),
            (Err(e), true) => panic!("{at}: {e:?}"),
        }
    }
}

/// History, thresholds and the footer key on the id: the same answer read three hours and
/// some minutes later names the same windows.
#[test]
fn the_same_answer_polled_at_another_time_keeps_every_id() {
    for c in cases() {
        let ids = |now| {
            parse(&c.provider, &c.body, now).map(|o| {
                o.snapshots
                    .iter()
                    .map(|s| (s.id.clone(), s.model_id.clone()))
                    .collect::<Vec<_>>()
            })
        };
        let (a, b) = (ids(NOW).ok(), ids(NOW + 13_020_000).ok());
        assert_eq!(a, b, "{}/{}", c.provider, c.name);
    }
}

/// A path into a JSON value: object keys and array indices.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn paths(v: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                prefix.push(Step::Key(k.clone()));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(Step::Index(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// `v` with the value at `path` replaced (`Some`) or removed (`None`).
fn mutate(v: &Value, path: &[Step], with: Option<&Value>) -> Value {
    let mut out = v.clone();
    let (last, parents) = path.split_last().expect("not the root");
    let mut cur = &mut out;
    for step in parents {
        cur = match step {
            Step::Key(k) => cur.get_mut(k.as_str()).unwrap(),
            Step::Index(i) => cur.get_mut(*i).unwrap(),
        };
    }
    match (last, with, cur) {
        (Step::Key(k), Some(w), Value::Object(o)) => {
            o.insert(k.clone(), w.clone());
        }
        (Step::Key(k), None, Value::Object(o)) => {
            o.remove(k);
        }
        (Step::Index(i), Some(w), Value::Array(a)) => a[*i] = w.clone(),
        (Step::Index(i), None, Value::Array(a)) => {
            a.remove(*i);
        }
        _ => unreachable!("paths come from the value"),
    }
    out
}

/// Values of another JSON type than `v`: what a service sends when a field changes type.
fn mistypes(v: &Value) -> Vec<Value> {
    let all = [
        json!(null),
        json!("x"),
        json!(-7.5),
        json!(true),
        json!([]),
        json!({}),
    ];
    let same = |w: &Value| std::mem::discriminant(w) == std::mem::discriminant(v);
    all.into_iter().filter(|w| !same(w)).collect()
}

/// Answers that are one spend figure, where an absent part means nothing was spent but an
/// unreadable one must not read as $0: their own property tests (`spend::single_field_mutations`)
/// name the one part everything rests on.
const SPEND_ONLY: [&str; 2] = ["baseten", "fireworks"];

fn readable(provider: &str, v: &Value) -> bool {
    let body = serde_json::to_vec(v).unwrap();
    parse(provider, &body, NOW).is_ok_and(|o| !o.snapshots.is_empty())
}

/// The project's own fixtures of the five subscription services, beside the corpus.
const FIXTURES: [(&str, &str); 13] = [
    ("anthropic", "anthropic-usage.json"),
    ("anthropic", "current/anthropic-usage-2026.json"),
    ("openai-codex", "codex-usage.json"),
    ("openai-codex", "current/codex-usage-2026.json"),
    (
        "openai-codex",
        "current/codex-usage-2026-team-spend-control.json",
    ),
    ("github-copilot", "copilot-user.json"),
    ("github-copilot", "current/copilot-user-ai-credits.json"),
    ("github-copilot", "current/copilot-user-free-legacy.json"),
    ("github-copilot", "current/copilot-user-sentinel.json"),
    (
        "github-copilot",
        "current/copilot-user-business-placeholder.json",
    ),
    ("google-antigravity", "antigravity-models.json"),
    (
        "google-antigravity",
        "current/antigravity-quota-summary.json",
    ),
    ("google-gemini-cli", "gemini-quota.json"),
];

fn fixture_cases() -> Vec<Case> {
    FIXTURES
        .iter()
        .map(|(provider, file)| Case {
            provider: provider.to_string(),
            name: file.to_string(),
            body: std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("fixtures")
                    .join(file),
            )
            .unwrap(),
            expect: Value::Null,
        })
        .collect()
}

/// Every parser, every body: one field deleted or mistyped at a time. When the rest of the
/// answer is readable on its own (the body without that field's top-level part, or without
/// the field itself, still gives a window), the mutated body must give a window too.
#[test]
fn deleting_or_mistyping_one_field_never_fails_a_provider_that_has_more_to_read() {
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut providers = BTreeSet::new();
    for c in cases().into_iter().chain(fixture_cases()) {
        let Ok(body) = serde_json::from_slice::<Value>(&c.body) else {
            continue;
        };
        if !readable(&c.provider, &body) || SPEND_ONLY.contains(&c.provider.as_str()) {
            continue;
        }
        providers.insert(c.provider.clone());
        let mut all = Vec::new();
        paths(&body, &mut Vec::new(), &mut all);
        for path in all {
            let deleted = mutate(&body, &path, None);
            let rest_readable = readable(&c.provider, &deleted)
                || readable(&c.provider, &mutate(&body, &path[..1], None));
            let original = {
                let mut cur = &body;
                for step in &path {
                    cur = match step {
                        Step::Key(k) => &cur[k.as_str()],
                        Step::Index(i) => &cur[*i],
                    };
                }
                cur.clone()
            };
            let variants: Vec<Value> = std::iter::once(deleted)
                .chain(
                    mistypes(&original)
                        .iter()
                        .map(|w| mutate(&body, &path, Some(w))),
                )
                .collect();
            for variant in variants {
                let bytes = serde_json::to_vec(&variant).unwrap();
                let result = parse(&c.provider, &bytes, NOW);
                checked += 1;
                if rest_readable && !result.as_ref().is_ok_and(|o| !o.snapshots.is_empty()) {
                    failures.push(format!(
                        "{}/{} with {:?} changed: {:?}",
                        c.provider,
                        c.name,
                        path,
                        result.map(|o| default_ids(&o))
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 1000, "{checked} mutations");
    for p in [
        "anthropic",
        "openai-codex",
        "github-copilot",
        "google-antigravity",
        "google-gemini-cli",
    ] {
        assert!(providers.contains(p), "no readable body for {p}");
    }
}
