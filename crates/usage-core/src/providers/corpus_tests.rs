//! The recorded answers under `fixtures/corpus/` read straight through each service's parser:
//! the window ids, models, warnings and errors their `.expect.json` names, and three
//! properties over every body:
//! - polled twice at different times, an answer keeps every window id;
//! - deleting or mistyping any one field never fails the provider while another part of the
//!   answer stays readable (the part it broke may be lost, with a warning): the one statement
//!   of that property for every parser, over the corpus and the project's fixtures, with each
//!   parser's exceptions declared once ([`RESTS_ON`]); the mutants come from `mutate.rs`;
//! - nothing panics, whatever the mutation.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{builtin, mutate, Account, ParseContext, RequestContext, WireError, BUILTINS};
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

/// The project's own fixtures, beside the corpus: every parser's. Each names the fields of
/// its body without which nothing is left to read (the envelope, the only window's number):
/// there, and only there or in a part the parser [`RESTS_ON`], a changed field may fail the fetch.
const FIXTURES: [(&str, &str, &[&str]); 29] = [
    ("anthropic", "anthropic-usage.json", &[]),
    ("anthropic", "current/anthropic-usage-2026.json", &[]),
    ("openai-codex", "codex-usage.json", &["/rate_limit"]),
    ("openai-codex", "current/codex-usage-2026.json", &[]),
    (
        "openai-codex",
        "current/codex-usage-2026-team-spend-control.json",
        &[],
    ),
    (
        "github-copilot",
        "copilot-user.json",
        &["/quota_snapshots", "/quota_snapshots/premium_interactions"],
    ),
    (
        "github-copilot",
        "current/copilot-user-ai-credits.json",
        &["/quota_snapshots", "/quota_snapshots/premium_interactions"],
    ),
    (
        "github-copilot",
        "current/copilot-user-free-legacy.json",
        &["/limited_user_quotas", "/monthly_quotas"],
    ),
    (
        "github-copilot",
        "current/copilot-user-sentinel.json",
        &["/quota_snapshots", "/quota_snapshots/premium_interactions"],
    ),
    (
        "github-copilot",
        "current/copilot-user-business-placeholder.json",
        &[],
    ),
    (
        "google-antigravity",
        "antigravity-models.json",
        &["/models"],
    ),
    (
        "google-antigravity",
        "current/antigravity-quota-summary.json",
        &["/groups"],
    ),
    ("google-gemini-cli", "gemini-quota.json", &["/buckets"]),
    (
        "zai",
        "current/zai-quota-limit.json",
        &["/data", "/data/limits"],
    ),
    (
        "zai-coding-cn",
        "current/zai-quota-limit.json",
        &["/data", "/data/limits"],
    ),
    ("kimi-coding", "current/kimi-coding-usages.json", &[]),
    (
        "minimax",
        "current/minimax-coding-plan-remains.json",
        &[
            "/model_remains",
            "/model_remains/0",
            "/model_remains/0/model_name",
        ],
    ),
    (
        "minimax-cn",
        "current/minimax-coding-plan-remains.json",
        &[
            "/model_remains",
            "/model_remains/0",
            "/model_remains/0/model_name",
        ],
    ),
    ("openrouter", "current/openrouter-key.json", &["/data"]),
    ("xai", "current/xai-grok-billing-credits.json", &["/config"]),
    ("xai", "current/xai-grok-billing-monthly.json", &["/config"]),
    ("moonshotai", "current/moonshot-balance.json", &["/data"]),
    ("moonshotai-cn", "current/moonshot-balance.json", &["/data"]),
    (
        "deepseek",
        "current/deepseek-balance.json",
        &[
            "/balance_infos",
            "/balance_infos/0",
            "/balance_infos/0/currency",
        ],
    ),
    ("opencode-go", "current/opencode-go-usage.json", &["/usage"]),
    (
        "vercel-ai-gateway",
        "current/vercel-ai-gateway-credits.json",
        &["/balance"],
    ),
    (
        "huggingface",
        "current/huggingface-billing-usage.json",
        &[
            "/usage",
            "/usage/inferenceProviders",
            "/usage/inferenceProviders/usedNanoUsd",
        ],
    ),
    ("fireworks", "current/fireworks-billing-summary.json", &[]),
    ("baseten", "current/baseten-usage-summary.json", &[]),
];

/// Each parser's honest exceptions to the property: the one part an answer rests on, where an
/// absent part reads as "nothing spent" or "0 % used" but an unreadable one must not be read as
/// that. A change inside it may fail the fetch when, without it, the answer says nothing.
const RESTS_ON: [(&str, &str); 3] = [
    // The allowance: omitted beside a period it is 0 % used (protobuf JSON drops a 0); a
    // percent that is not a number is unknown, not 0 %. On-demand and prepaid stay readable.
    ("xai", "/config/creditUsagePercent"),
    // The model API spend: absent is $0 spent; unreadable must not show $0.
    ("baseten", "/model_apis_usage"),
    // The line items the 30-day spend sums: none is $0 spent; an item that cannot be read
    // must not leave a sum of nothing that shows $0 (beside readable items it is a warning).
    ("fireworks", "/lineItems"),
];

/// The piece of a declared part of `provider` that `pointer` lies in: the part, or the list
/// item of it that holds the field.
fn rests_on(provider: &str, body: &Value, pointer: &str) -> Option<String> {
    let pattern = mutate::pattern(pointer);
    let (_, part) = RESTS_ON.iter().find(|(p, part)| {
        *p == provider && (pattern == *part || pattern.starts_with(&format!("{part}/")))
    })?;
    let depth = part.split('/').count();
    let steps: Vec<&str> = pointer.split('/').collect();
    let whole = steps[..depth].join("/");
    Some(match mutate::at(body, &whole) {
        Value::Array(_) if steps.len() > depth => steps[..=depth].join("/"),
        _ => whole,
    })
}

/// Nothing read: no window, or only windows at 0 (nothing spent, 0 % used).
fn says_nothing(result: Result<FetchOutcome, WireError>) -> bool {
    result.map_or(true, |o| {
        o.snapshots
            .iter()
            .all(|s| s.used == Some(0.0) || s.used_ratio == Some(0.0))
    })
}

/// The parsers whose fixtures hold, besides, that a window lost to a mistyped field (null
/// aside: many services send null for "none") leaves a warning. The others still drop some
/// windows silently (Claude, Codex, Copilot and the Google services on a mistyped window
/// object; Kimi's booster wallet and xAI's period type in some corpus answers).
const WARN_ON_LOSS: [&str; 13] = [
    "zai",
    "kimi-coding",
    "minimax",
    "minimax-cn",
    "openrouter",
    "xai",
    "moonshotai",
    "deepseek",
    "opencode-go",
    "vercel-ai-gateway",
    "huggingface",
    "fireworks",
    "baseten",
];

fn warns_on_loss(b: &Body) -> bool {
    b.spine.is_some() && WARN_ON_LOSS.contains(&b.provider.as_str())
}

struct Body {
    provider: String,
    name: String,
    value: Value,
    /// The fixture's declared fields without which nothing is left (`None`: a corpus body,
    /// where that is found by deleting the field and its top-level part).
    spine: Option<&'static [&'static str]>,
}

fn bodies() -> Vec<Body> {
    let corpus = cases().into_iter().filter_map(|c| {
        Some(Body {
            value: serde_json::from_slice(&c.body).ok()?,
            provider: c.provider,
            name: c.name,
            spine: None,
        })
    });
    let fixtures = FIXTURES.iter().map(|(provider, file, spine)| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(file);
        Body {
            provider: provider.to_string(),
            name: file.to_string(),
            value: serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap(),
            spine: Some(*spine),
        }
    });
    corpus.chain(fixtures).collect()
}

fn windows(out: &FetchOutcome) -> Vec<(String, Option<String>)> {
    out.snapshots
        .iter()
        .map(|s| (s.id.clone(), s.model_id.clone()))
        .collect()
}

fn read(provider: &str, v: &Value) -> Result<FetchOutcome, WireError> {
    parse(provider, &serde_json::to_vec(v).unwrap(), NOW)
}

fn readable(provider: &str, v: &Value) -> bool {
    read(provider, v).is_ok_and(|o| !o.snapshots.is_empty())
}

/// The property, for every parser over every recorded answer and fixture it reads: deleting or
/// mistyping any single field never fails the provider while another part stays readable.
/// A changed field may leave no window only
/// - on a fixture's declared spine, or, in a corpus body, when nothing else is readable (the
///   answer without that field, and without its top-level part, gives no window);
/// - inside a part its parser [`RESTS_ON`], when the answer without that part (or without
///   the item of it that holds the field) says nothing: no window, or only windows at 0.
///
/// On the fixtures of the parsers in [`WARN_ON_LOSS`], a mistyped field that loses a window
/// the answer had leaves a warning.
#[test]
fn deleting_or_mistyping_one_field_never_fails_a_provider_that_has_more_to_read() {
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut providers = BTreeSet::new();
    for b in bodies() {
        let at = format!("{}/{}", b.provider, b.name);
        let base = match read(&b.provider, &b.value) {
            Ok(out) if !out.snapshots.is_empty() => out,
            // Nothing to keep: an answer with no window (Copilot's business placeholder), or
            // a corpus body the parser rejects on purpose (its expectation names the error).
            Ok(_) => continue,
            Err(_) if b.spine.is_none() => continue,
            Err(e) => panic!("{at}: the fixture does not read: {e:?}"),
        };
        providers.insert(b.provider.clone());
        // A spine is honest: without that field nothing is readable.
        for p in b.spine.unwrap_or_default() {
            let without = mutate::changed(&b.value, p, None);
            assert!(
                !readable(&b.provider, &without),
                "{at}: {p} is declared a spine field, yet the answer without it reads"
            );
        }
        let base_windows = windows(&base);
        for m in mutate::mutants(&b.value) {
            checked += 1;
            let result = read(&b.provider, &m.body);
            if let Some(out) = result.as_ref().ok().filter(|o| !o.snapshots.is_empty()) {
                let now = windows(out);
                let lost: Vec<_> = base_windows.iter().filter(|w| !now.contains(w)).collect();
                let warned = out.snapshots.iter().any(|s| !s.warnings.is_empty());
                let mistyped = matches!(&m.change, mutate::Change::Mistyped(w) if !w.is_null());
                if warns_on_loss(&b) && mistyped && !lost.is_empty() && !warned {
                    failures.push(format!(
                        "{at}: {:?} at {} lost {lost:?} without a warning",
                        m.change, m.pointer
                    ));
                }
                continue;
            }
            let nothing_else = match b.spine {
                Some(spine) => spine.contains(&m.pointer.as_str()),
                None => {
                    let top = format!("/{}", m.pointer.split('/').nth(1).unwrap_or_default());
                    !readable(&b.provider, &mutate::changed(&b.value, &m.pointer, None))
                        && !readable(&b.provider, &mutate::changed(&b.value, &top, None))
                }
            };
            let declared = rests_on(&b.provider, &b.value, &m.pointer).is_some_and(|piece| {
                says_nothing(read(&b.provider, &mutate::changed(&b.value, &piece, None)))
            });
            if !nothing_else && !declared {
                failures.push(format!(
                    "{at}: {:?} at {}: {:?}",
                    m.change,
                    m.pointer,
                    result.map(|o| windows(&o))
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 15_000, "{checked} mutations");
    let credentials = Credentials::new("t", CredentialKind::OAuth);
    let ctx = RequestContext {
        base_url: "http://h",
        credentials: &credentials,
        account: &Account::default(),
    };
    // Every built-in with a usage endpoint (the header-only ones send no request).
    for spec in BUILTINS
        .iter()
        .filter(|s| !s.wire.requests(&ctx).is_empty())
    {
        assert!(
            providers.contains(spec.id),
            "no readable body for {}",
            spec.id
        );
    }
}
