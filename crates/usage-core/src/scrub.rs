//! The one scrubber for text a service sent back, applied before anything of it is stored
//! (entries, cache, history) or shown: services echo what they were sent, whole, cut short,
//! lower-cased or URL-encoded ("invalid key sk-abc…"). Any run of [`MIN_RUN`] or more
//! characters of a credential, compared without case and after percent-decoding, becomes
//! [`HIDDEN`]. A plan name is a short word or two; anything else is not a plan.

use std::collections::HashSet;

use crate::model::{FetchError, FetchOutcome};

/// The shortest run of a credential's characters that is hidden.
pub const MIN_RUN: usize = 8;
/// What a hidden run is replaced with.
pub const HIDDEN: &str = "[hidden]";
/// Longest plan name kept, in characters, and most words.
pub const MAX_PLAN_CHARS: usize = 40;
const MAX_PLAN_WORDS: usize = 4;

/// Every run of [`MIN_RUN`] characters of the given secrets, lower-cased.
pub struct Secrets {
    runs: HashSet<Vec<char>>,
}

impl Secrets {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        Self::except(secrets, [])
    }

    /// Like [`Secrets::new`], but runs that are part of `public` or hold one of its names
    /// whole (the provider's own id and name, which our messages and its model ids quote and
    /// a key may contain) are not secret.
    pub fn except<'a, 'b>(
        secrets: impl IntoIterator<Item = &'a str>,
        public: impl IntoIterator<Item = &'b str>,
    ) -> Self {
        let public: Vec<String> = public.into_iter().map(str::to_lowercase).collect();
        let mut runs = HashSet::new();
        for secret in secrets {
            let chars: Vec<char> = secret.trim().chars().flat_map(char::to_lowercase).collect();
            if chars.len() < MIN_RUN {
                // Too short to cut into runs; hidden where it appears whole.
                if !chars.is_empty() {
                    runs.insert(chars);
                }
                continue;
            }
            for run in chars.windows(MIN_RUN) {
                let text: String = run.iter().collect();
                let named =
                    |p: &String| p.contains(&text) || (p.len() >= 3 && text.contains(p.as_str()));
                if !public.iter().any(named) {
                    runs.insert(run.to_vec());
                }
            }
        }
        Self { runs }
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// `text` with every run of a secret replaced by [`HIDDEN`] (once per hidden stretch).
    pub fn scrub(&self, text: &str) -> String {
        if self.runs.is_empty() {
            return text.to_string();
        }
        // The text as compared: lower-cased, %XX decoded; each char keeps its source span.
        let mut seen: Vec<(char, usize, usize)> = Vec::with_capacity(text.len());
        let bytes = text.as_bytes();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            let hex = |i: usize| bytes.get(i).and_then(|b| (*b as char).to_digit(16));
            if c == '%' {
                if let (Some(h), Some(l)) = (hex(at + 1), hex(at + 2)) {
                    let decoded = (h * 16 + l) as u8;
                    if decoded.is_ascii() {
                        chars.next();
                        chars.next();
                        seen.push(((decoded as char).to_ascii_lowercase(), at, at + 3));
                        continue;
                    }
                }
            }
            for lower in c.to_lowercase() {
                seen.push((lower, at, at + c.len_utf8()));
            }
        }
        let mut hidden = vec![false; seen.len()];
        let lengths: HashSet<usize> = self.runs.iter().map(Vec::len).collect();
        let window: Vec<char> = seen.iter().map(|(c, _, _)| *c).collect();
        for len in lengths {
            if window.len() < len {
                continue;
            }
            for start in 0..=window.len() - len {
                if self.runs.contains(&window[start..start + len]) {
                    hidden[start..start + len]
                        .iter_mut()
                        .for_each(|h| *h = true);
                }
            }
        }
        if !hidden.contains(&true) {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut copied_to = 0;
        let mut i = 0;
        while i < seen.len() {
            if !hidden[i] {
                i += 1;
                continue;
            }
            let start = seen[i].1;
            while i < seen.len() && hidden[i] {
                i += 1;
            }
            let end = seen[i - 1].2;
            if start >= copied_to {
                out.push_str(&text[copied_to..start]);
                out.push_str(HIDDEN);
            }
            copied_to = copied_to.max(end);
        }
        out.push_str(&text[copied_to..]);
        out
    }

    /// A plan name from a service: kept only when it is a short name that holds nothing of
    /// a secret.
    pub fn plan(&self, plan: &str) -> Option<String> {
        let plan = plan.trim();
        let scrubbed = self.scrub(plan);
        (scrubbed == plan && is_plan_name(plan)).then(|| plan.to_string())
    }

    /// Everything of a result a service wrote as text.
    pub fn outcome(&self, mut outcome: FetchOutcome) -> FetchOutcome {
        outcome.plan = outcome.plan.as_deref().and_then(|p| self.plan(p));
        if self.is_empty() {
            return outcome;
        }
        for s in &mut outcome.snapshots {
            s.id = self.scrub(&s.id);
            s.model_id = s.model_id.as_deref().map(|m| self.scrub(m));
            s.unit = s.unit.as_deref().map(|u| self.scrub(u));
            s.scope = s.scope.as_deref().map(|u| self.scrub(u));
            for w in &mut s.warnings {
                *w = self.scrub(w);
            }
        }
        for q in &mut outcome.extra_quotas {
            q.id = self.scrub(&q.id);
            q.unit = q.unit.as_deref().map(|u| self.scrub(u));
        }
        outcome
    }

    pub fn error(&self, mut error: FetchError) -> FetchError {
        error.message = self.scrub(&error.message);
        error
    }
}

/// A plan is named by a few short words: letters, digits and `-_.+()&/`.
pub fn is_plan_name(plan: &str) -> bool {
    !plan.is_empty()
        && plan.chars().count() <= MAX_PLAN_CHARS
        && plan.split_whitespace().count() <= MAX_PLAN_WORDS
        && plan
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "-_.+()&/".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-Zai0123456789abcdefXYZ";

    #[test]
    fn runs_of_eight_in_any_case_or_encoding_are_hidden() {
        let s = Secrets::new([KEY]);
        assert_eq!(
            s.scrub("invalid key sk-Zai0123456 given"),
            "invalid key [hidden] given"
        );
        assert_eq!(s.scrub("key SK-ZAI0123456789ABC"), "key [hidden]");
        assert_eq!(s.scrub("sk%2DZai01234 x"), "[hidden] x", "URL-encoded");
        assert_eq!(
            s.scrub("sk-Zai0 is short"),
            "sk-Zai0 is short",
            "seven characters say nothing"
        );
        assert_eq!(s.scrub("a 0123456789 b 456789ab"), "a [hidden] b [hidden]");
        assert_eq!(s.scrub("no secret here"), "no secret here");
        assert_eq!(s.scrub("Über… sk-zai0123"), "Über… [hidden]");
        assert_eq!(Secrets::new(["abc"]).scrub("x ABC y"), "x [hidden] y");
        assert_eq!(Secrets::new([""]).scrub("text"), "text");
        let named = Secrets::except(["test-deepseek-token"], ["deepseek"]);
        assert_eq!(
            named.scrub("deepseek: check $DEEPSEEK_API_KEY; got test-deepseek"),
            "deepseek: check $DEEPSEEK_API_KEY; got [hidden]k",
            "the provider's own name is not a secret"
        );
        let model = Secrets::except(["test-minimax-token"], ["minimax"]);
        assert_eq!(
            model.scrub("MiniMax-M2.7"),
            "MiniMax-M2.7",
            "nor a model named after it"
        );
        assert_eq!(model.scrub("key test-minimax-token"), "key [hidden]");
    }

    #[test]
    fn plans_are_short_names_with_nothing_of_a_key() {
        let s = Secrets::new([KEY]);
        assert_eq!(s.plan("Pro").as_deref(), Some("Pro"));
        assert_eq!(
            s.plan(" GLM Coding Max ").as_deref(),
            Some("GLM Coding Max")
        );
        assert_eq!(
            s.plan("sk-Zai0123456789ab"),
            None,
            "an echoed key is no plan"
        );
        assert_eq!(s.plan("lite"), Some("lite".into()));
        assert_eq!(
            s.plan("Your plan expired, see https://example.com/renew now"),
            None,
            "free text is no plan"
        );
        assert_eq!(s.plan(&"p".repeat(41)), None);
        assert_eq!(
            Secrets::new([]).plan("Team (annual)").as_deref(),
            Some("Team (annual)")
        );
    }
}
