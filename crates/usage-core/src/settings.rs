//! The pi extension's settings file, `<agent dir>/usage-tracker.json`: what each key means,
//! its default (the tracker's own), and how a bad value is told — named once with its key,
//! its value and what was expected, its default used — so a hand-edited file keeps working.
//! Also the one way to change the file: checked by the same rules, replaced atomically,
//! keys it does not know kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::quota::Thresholds;
use crate::tracker::TrackerOptions;
use crate::validate::{MAX_SAFE_INTEGER, MIN_INTERVAL_MS};

pub const FILE_NAME: &str = "usage-tracker.json";

/// How much of each provider the footer shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The main windows only.
    Compact,
    /// Every window of every model.
    Full,
}

impl Style {
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Compact => "compact",
            Style::Full => "full",
        }
    }
}

/// What happens when a prompt goes to a model whose quota is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenExhausted {
    /// Ask to switch to the best model with room.
    Ask,
    /// Switch at once.
    Switch,
    /// Only say so.
    Warn,
}

impl WhenExhausted {
    pub fn as_str(self) -> &'static str {
        match self {
            WhenExhausted::Ask => "ask",
            WhenExhausted::Switch => "switch",
            WhenExhausted::Warn => "warn",
        }
    }
}

/// Where the shared cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachePath {
    /// The tracker's default, under the agent dir.
    Default,
    /// No shared cache.
    Off,
    At(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionSettings {
    pub interval_ms: u64,
    /// Every built-in provider id: tracked or not.
    pub providers: BTreeMap<String, bool>,
    pub warn_at: f64,
    pub critical_at: f64,
    /// Money below which a prepaid balance is `critical`.
    pub low_balance: f64,
    pub style: Style,
    pub notify: bool,
    /// The footer's "this session" cell.
    pub session_cost: bool,
    pub when_exhausted: WhenExhausted,
    pub cache_path: CachePath,
}

impl ExtensionSettings {
    /// The tracker's own defaults, every provider on.
    pub fn defaults(provider_ids: &[&str]) -> Self {
        let tracker = TrackerOptions::default();
        let thresholds = Thresholds::default();
        Self {
            interval_ms: tracker.interval_ms,
            providers: provider_ids
                .iter()
                .map(|id| (id.to_string(), true))
                .collect(),
            warn_at: thresholds.warn_at,
            critical_at: thresholds.critical_at,
            low_balance: thresholds.default_low_balance,
            style: Style::Compact,
            notify: true,
            session_cost: true,
            when_exhausted: WhenExhausted::Ask,
            cache_path: CachePath::Default,
        }
    }
}

/// A settings file as read: what it means, and each bad value it holds, in words.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsRead {
    pub path: PathBuf,
    pub settings: ExtensionSettings,
    pub problems: Vec<String>,
}

/// `<agent dir>/usage-tracker.json`.
pub fn default_path() -> PathBuf {
    crate::credentials::agent_dir().join(FILE_NAME)
}

/// Reads the file at `path`; no file is the defaults, never a problem.
pub fn read(path: &Path, provider_ids: &[&str]) -> SettingsRead {
    match std::fs::read(path) {
        Ok(bytes) => parse(path, &bytes, provider_ids),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => SettingsRead {
            path: path.to_path_buf(),
            settings: ExtensionSettings::defaults(provider_ids),
            problems: Vec::new(),
        },
        Err(e) => SettingsRead {
            path: path.to_path_buf(),
            settings: ExtensionSettings::defaults(provider_ids),
            problems: vec![format!(
                "{}: cannot be read ({}); using the defaults",
                path.display(),
                e.kind()
            )],
        },
    }
}

/// What the bytes of a settings file mean.
pub fn parse(path: &Path, bytes: &[u8], provider_ids: &[&str]) -> SettingsRead {
    let mut read = SettingsRead {
        path: path.to_path_buf(),
        settings: ExtensionSettings::defaults(provider_ids),
        problems: Vec::new(),
    };
    match object_of(path, bytes) {
        Ok(object) => apply(&object, &mut read, provider_ids),
        Err(problem) => read.problems.push(format!("{problem}; using the defaults")),
    }
    read
}

/// The file's JSON object, or why it has none.
fn object_of(path: &Path, bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let name = path.display();
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(format!(
            "{name} holds {}, expected a JSON object such as {{\"warnAt\": 0.25}}",
            shown(&other)
        )),
        Err(e) => Err(format!("{name} is not valid JSON ({e})")),
    }
}

/// A value as the message shows it: short, on one line.
fn shown(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= 40 {
        text
    } else {
        format!("{}…", text.chars().take(39).collect::<String>())
    }
}

fn apply(object: &Map<String, Value>, read: &mut SettingsRead, provider_ids: &[&str]) {
    let file = read.path.display().to_string();
    let defaults = ExtensionSettings::defaults(provider_ids);
    let s = &mut read.settings;
    let problems = &mut read.problems;
    let mut bad = |key: &str, value: &Value, expected: &str, default: String| {
        problems.push(format!(
            "{file}: \"{key}\" is {}, expected {expected}; using the default {default}",
            shown(value)
        ))
    };
    let ratio = |v: &Value| v.as_f64().filter(|r| (0.0..=1.0).contains(r));
    let mut ignored = Vec::new();
    for (key, value) in object {
        match key.as_str() {
            // A whole number written as 30000.0 is still whole.
            "intervalMs" => match value.as_f64().filter(|ms| {
                ms.fract() == 0.0 && (MIN_INTERVAL_MS as f64..=MAX_SAFE_INTEGER as f64).contains(ms)
            }) {
                Some(ms) => s.interval_ms = ms as u64,
                None => bad(
                    key,
                    value,
                    &format!("a whole number of milliseconds, at least {MIN_INTERVAL_MS}"),
                    defaults.interval_ms.to_string(),
                ),
            },
            "warnAt" => match ratio(value) {
                Some(r) => s.warn_at = r,
                None => bad(
                    key,
                    value,
                    "a remaining ratio between 0 and 1",
                    defaults.warn_at.to_string(),
                ),
            },
            "criticalAt" => match ratio(value) {
                Some(r) => s.critical_at = r,
                None => bad(
                    key,
                    value,
                    "a remaining ratio between 0 and 1",
                    defaults.critical_at.to_string(),
                ),
            },
            "lowBalance" => match value.as_f64().filter(|m| m.is_finite() && *m >= 0.0) {
                Some(m) => s.low_balance = m,
                None => bad(
                    key,
                    value,
                    "an amount of money, 0 or more",
                    defaults.low_balance.to_string(),
                ),
            },
            "style" => match value.as_str() {
                Some("compact") => s.style = Style::Compact,
                Some("full") => s.style = Style::Full,
                _ => bad(key, value, "\"compact\" or \"full\"", "\"compact\"".into()),
            },
            "notify" => match value.as_bool() {
                Some(on) => s.notify = on,
                None => bad(key, value, "true or false", "true".into()),
            },
            "sessionCost" => match value.as_bool() {
                Some(on) => s.session_cost = on,
                None => bad(key, value, "true or false", "true".into()),
            },
            "whenExhausted" => match value.as_str() {
                Some("ask") => s.when_exhausted = WhenExhausted::Ask,
                Some("switch") => s.when_exhausted = WhenExhausted::Switch,
                Some("warn") => s.when_exhausted = WhenExhausted::Warn,
                _ => bad(
                    key,
                    value,
                    "\"ask\", \"switch\" or \"warn\"",
                    "\"ask\"".into(),
                ),
            },
            "cachePath" => match value {
                Value::Null => s.cache_path = CachePath::Off,
                Value::String(p)
                    if crate::cache::SharedCache::validate_path(Path::new(p)).is_ok() =>
                {
                    s.cache_path = CachePath::At(p.clone())
                }
                _ => bad(
                    key,
                    value,
                    "a file path, or null for no shared cache",
                    "(under the agent dir)".into(),
                ),
            },
            "providers" => match value.as_object() {
                Some(providers) => {
                    for (id, on) in providers {
                        match (s.providers.get_mut(id), on.as_bool()) {
                            (Some(slot), Some(on)) => *slot = on,
                            (Some(_), None) => bad(&format!("providers.{id}"), on, "true or false", "true".into()),
                            (None, _) => ignored.push(format!(
                                "{file}: \"providers\" names \"{id}\", which is not a built-in provider; ignored"
                            )),
                        }
                    }
                }
                None => bad(
                    key,
                    value,
                    "an object such as {\"anthropic\": false}",
                    "(every provider on)".into(),
                ),
            },
            // A key of a later version, or the user's own note: kept, not ours to judge.
            _ => {}
        }
    }
    problems.extend(ignored);
    // A window turns yellow before it turns red: the pair must not cross.
    if s.warn_at < s.critical_at {
        problems.push(format!(
            "{file}: \"warnAt\" ({}) is below \"criticalAt\" ({}), expected warnAt at or above criticalAt (a window turns yellow before red); using the defaults {} and {}",
            s.warn_at, s.critical_at, defaults.warn_at, defaults.critical_at
        ));
        s.warn_at = defaults.warn_at;
        s.critical_at = defaults.critical_at;
    }
    // The tracker's own checks have the last word: whatever a file says, the tracker it makes
    // starts (a rule added there and not here yet gives a problem, never "could not start").
    if let Err(e) = tracker_options(s).check() {
        problems.push(format!(
            "{file}: {e}; using the defaults for the tracker's options"
        ));
        s.interval_ms = defaults.interval_ms;
        s.warn_at = defaults.warn_at;
        s.critical_at = defaults.critical_at;
        s.low_balance = defaults.low_balance;
        s.cache_path = defaults.cache_path;
    }
}

/// The tracker options these settings make (the rest are the tracker's defaults).
pub fn tracker_options(s: &ExtensionSettings) -> TrackerOptions {
    let mut o = TrackerOptions {
        interval_ms: s.interval_ms,
        ..TrackerOptions::default()
    };
    o.thresholds.warn_at = s.warn_at;
    o.thresholds.critical_at = s.critical_at;
    o.thresholds.default_low_balance = s.low_balance;
    o.cache_path = match &s.cache_path {
        CachePath::At(p) => Some(PathBuf::from(p)),
        CachePath::Default | CachePath::Off => None,
    };
    o
}

/// Changes the file at `path`: `changes` is an object of keys to set (`null` removes one, so
/// its default applies); `providers` is merged by id. A change the rules refuse is an error
/// naming it, and the file stays as it was; so does a file that is not a JSON object (it is
/// the user's to fix). The file is replaced atomically (temp file + rename, through a
/// symlink to its target) and every key it holds that is not changed is kept.
pub fn update(path: &Path, changes: &Value, provider_ids: &[&str]) -> Result<SettingsRead, String> {
    let Some(changes) = changes.as_object() else {
        return Err(format!(
            "settings changes must be an object, got {}",
            shown(changes)
        ));
    };
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let (mut object, before) = match std::fs::read(&target) {
        Ok(bytes) => {
            let object = object_of(path, &bytes)
                .map_err(|p| format!("{p}; fix it by hand before saving from here"))?;
            let mut before = parse(path, &bytes, provider_ids).problems;
            before.sort();
            (object, before)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Map::new(), Vec::new()),
        Err(e) => return Err(format!("{}: cannot be read ({})", path.display(), e.kind())),
    };
    for (key, value) in changes {
        match (key.as_str(), value, object.get_mut(key)) {
            ("providers", Value::Object(ids), Some(Value::Object(held))) => {
                for (id, on) in ids {
                    held.insert(id.clone(), on.clone());
                }
            }
            (_, Value::Null, _) if key != "cachePath" => {
                object.remove(key);
            }
            _ => {
                object.insert(key.clone(), value.clone());
            }
        }
    }
    let bytes = format!(
        "{}\n",
        serde_json::to_string_pretty(&Value::Object(object)).map_err(|e| e.to_string())?
    );
    let after = parse(path, bytes.as_bytes(), provider_ids);
    if let Some(new) = after.problems.iter().find(|p| !before.contains(p)) {
        return Err(format!(
            "not saved: {}",
            new.trim_end_matches(|c| c != ';').trim_end_matches(';')
        ));
    }
    replace(&target, bytes.as_bytes())
        .map_err(|e| format!("{}: cannot be saved ({e})", path.display()))?;
    Ok(after)
}

/// Writes `bytes` to a new file beside `path` and renames it over `path`: a reader sees the
/// old file or the new one, never half of one. The new file keeps the old one's permissions.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    crate::safe_file::replace(dir, path, bytes, ".usage-tracker-settings-", true, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IDS: &[&str] = &["anthropic", "zai"];

    fn parsed(text: &str) -> SettingsRead {
        parse(Path::new("/agent/usage-tracker.json"), text.as_bytes(), IDS)
    }

    #[test]
    fn no_file_or_an_empty_object_is_the_trackers_defaults_without_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let none = read(&dir.path().join(FILE_NAME), IDS);
        assert!(none.problems.is_empty());
        let d = none.settings;
        assert_eq!(
            (d.interval_ms, d.warn_at, d.critical_at, d.low_balance),
            (60_000, 0.25, 0.10, 5.0)
        );
        assert_eq!(
            (d.style, d.notify, d.when_exhausted, d.cache_path),
            (Style::Compact, true, WhenExhausted::Ask, CachePath::Default)
        );
        assert_eq!(d.providers.values().filter(|on| **on).count(), 2);
        assert_eq!(
            parsed("{}"),
            SettingsRead {
                path: "/agent/usage-tracker.json".into(),
                settings: ExtensionSettings::defaults(IDS),
                problems: vec![]
            }
        );
    }

    #[test]
    fn every_key_is_read() {
        let r = parsed(
            r#"{"intervalMs": 5000, "providers": {"zai": false}, "warnAt": 0.4, "criticalAt": 0.2,
            "lowBalance": 2.5, "style": "full", "notify": false, "whenExhausted": "switch", "cachePath": null, "myNote": 1}"#,
        );
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let s = r.settings;
        assert_eq!(
            (s.interval_ms, s.warn_at, s.critical_at, s.low_balance),
            (5000, 0.4, 0.2, 2.5)
        );
        assert_eq!(
            (s.style, s.notify, s.when_exhausted, s.cache_path),
            (Style::Full, false, WhenExhausted::Switch, CachePath::Off)
        );
        assert_eq!(
            (s.providers["anthropic"], s.providers["zai"]),
            (true, false)
        );
        assert_eq!(
            parsed(r#"{"cachePath": "/tmp/c.json"}"#)
                .settings
                .cache_path,
            CachePath::At("/tmp/c.json".into())
        );
    }

    #[test]
    fn a_whole_number_written_with_a_point_is_whole() {
        assert_eq!(
            parsed(r#"{"intervalMs": 30000.0}"#).settings.interval_ms,
            30_000
        );
        assert_eq!(parsed(r#"{"intervalMs": 30000.5}"#).problems.len(), 1);
    }

    #[test]
    fn what_the_settings_make_passes_the_trackers_own_checks() {
        for text in [
            r#"{"warnAt": 0.05, "criticalAt": 0.3}"#,
            r#"{"intervalMs": 1}"#,
            r#"{"cachePath": "/"}"#,
            r#"{"warnAt": 0.9, "criticalAt": 0.8, "lowBalance": 0}"#,
        ] {
            let r = parsed(text);
            tracker_options(&r.settings)
                .check()
                .unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn the_session_cell_is_on_unless_turned_off_and_a_bad_value_is_named() {
        assert!(parsed("{}").settings.session_cost);
        assert!(!parsed(r#"{"sessionCost": false}"#).settings.session_cost);
        let r = parsed(r#"{"sessionCost": "no"}"#);
        assert!(r.settings.session_cost);
        assert_eq!(r.problems.len(), 1);
        assert!(
            r.problems[0].contains(r#""sessionCost" is "no", expected true or false"#),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn a_bad_value_is_named_with_its_key_value_and_expectation_and_its_default_used() {
        let r = parsed(
            r#"{"warnAt": 1.5, "intervalMs": 500.5, "style": "wide", "providers": {"zai": "no", "nope": false}, "notify": false}"#,
        );
        assert_eq!(r.settings.warn_at, 0.25);
        assert_eq!(r.settings.interval_ms, 60_000);
        assert_eq!(r.settings.style, Style::Compact);
        assert!(r.settings.providers["zai"]);
        assert!(
            !r.settings.notify,
            "the good key next to bad ones still counts"
        );
        assert_eq!(r.problems.len(), 5, "{:#?}", r.problems);
        let said = |needle: &str| {
            r.problems
                .iter()
                .any(|p| p.starts_with("/agent/usage-tracker.json: ") && p.contains(needle))
        };
        assert!(said(
            r#""warnAt" is 1.5, expected a remaining ratio between 0 and 1; using the default 0.25"#
        ));
        assert!(said(
            r#""intervalMs" is 500.5, expected a whole number of milliseconds, at least 1000; using the default 60000"#
        ));
        assert!(said(r#""style" is "wide", expected "compact" or "full""#));
        assert!(said(r#""providers.zai" is "no", expected true or false"#));
        assert!(said(
            r#"names "nope", which is not a built-in provider; ignored"#
        ));
    }

    #[test]
    fn warn_below_critical_is_one_problem_and_both_defaults() {
        let r = parsed(r#"{"warnAt": 0.05, "criticalAt": 0.3}"#);
        assert_eq!((r.settings.warn_at, r.settings.critical_at), (0.25, 0.10));
        assert_eq!(r.problems, vec![
            "/agent/usage-tracker.json: \"warnAt\" (0.05) is below \"criticalAt\" (0.3), expected warnAt at or above criticalAt (a window turns yellow before red); using the defaults 0.25 and 0.1".to_string()
        ]);
        let equal = parsed(r#"{"warnAt": 0.2, "criticalAt": 0.2}"#);
        assert!(equal.problems.is_empty(), "equal levels are allowed");
        // The pair with defaults: criticalAt alone above the default warnAt.
        assert_eq!(parsed(r#"{"criticalAt": 0.5}"#).problems.len(), 1);
    }

    #[test]
    fn a_file_that_is_not_an_object_is_one_problem_and_the_defaults() {
        for (text, needle) in [
            ("{\"warnAt\": ", "is not valid JSON (EOF while parsing"),
            ("[1, 2]", "holds [1,2], expected a JSON object"),
        ] {
            let r = parsed(text);
            assert_eq!(r.settings, ExtensionSettings::defaults(IDS));
            assert_eq!(r.problems.len(), 1);
            assert!(
                r.problems[0].contains(needle) && r.problems[0].ends_with("using the defaults"),
                "{}",
                r.problems[0]
            );
        }
    }

    #[test]
    fn update_keeps_unknown_keys_merges_providers_and_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(
            &path,
            r#"{"myNote": "keep me", "providers": {"anthropic": false}, "intervalMs": 5000}"#,
        )
        .unwrap();
        let r = update(
            &path,
            &json!({"warnAt": 0.4, "providers": {"zai": false}, "intervalMs": null}),
            IDS,
        )
        .unwrap();
        assert!(r.problems.is_empty());
        assert_eq!((r.settings.warn_at, r.settings.interval_ms), (0.4, 60_000));
        let saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            saved,
            json!({"myNote": "keep me", "providers": {"anthropic": false, "zai": false}, "warnAt": 0.4})
        );
        assert_eq!(
            read(&path, IDS),
            r,
            "what update returns is what the file now says"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers,
            vec![std::ffi::OsString::from(FILE_NAME)],
            "no temp file left behind"
        );
        // No file yet: created.
        let fresh = dir.path().join("sub").join(FILE_NAME);
        update(&fresh, &json!({"style": "full"}), IDS).unwrap();
        assert_eq!(read(&fresh, IDS).settings.style, Style::Full);
    }

    #[test]
    fn a_refused_change_or_a_broken_file_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let original = r#"{"criticalAt": 0.2, "style": "wide"}"#;
        std::fs::write(&path, original).unwrap();
        let err = update(&path, &json!({"warnAt": 0.1}), IDS).unwrap_err();
        assert!(
            err.starts_with("not saved: ")
                && err.contains("\"warnAt\" (0.1) is below \"criticalAt\" (0.2)"),
            "{err}"
        );
        let err = update(&path, &json!({"providers": {"zai": 3}}), IDS).unwrap_err();
        assert!(err.contains("\"providers.zai\" is 3"), "{err}");
        // A problem the file already had does not block another change.
        update(&path, &json!({"notify": false}), IDS).unwrap();
        std::fs::write(&path, "{\"warnAt\": ").unwrap();
        let err = update(&path, &json!({"notify": true}), IDS).unwrap_err();
        assert!(
            err.contains("is not valid JSON") && err.contains("fix it by hand"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"warnAt\": ");
    }

    #[cfg(unix)]
    #[test]
    fn update_through_a_symlink_changes_the_target_and_keeps_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles.json");
        std::fs::write(&real, "{}").unwrap();
        let link = dir.path().join(FILE_NAME);
        std::os::unix::fs::symlink(&real, &link).unwrap();
        update(&link, &json!({"notify": false}), IDS).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(!read(&real, IDS).settings.notify);
    }
}
