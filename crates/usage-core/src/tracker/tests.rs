//! Loop tests with a manual clock and fake providers.

use std::sync::atomic::{AtomicI64, AtomicUsize};

use super::*;
use crate::clock::Clock;
use crate::model::UsageSnapshot;
use crate::model::{ErrorKind, FetchError, FetchOutcome, PaceSource, QuotaKind};
use crate::provider::{Authentication, BoxFuture};
use crate::quota::Decision;
use std::time::{Duration, Instant};

const T0: i64 = 1_800_000_000_000;
const INTERVAL: u64 = 60_000;

struct ManualClock(AtomicI64);

impl ManualClock {
    fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Default)]
struct CountingSink(AtomicUsize);

impl UpdateSink for CountingSink {
    fn publish(&self, _update: CycleUpdate) -> BoxFuture<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {})
    }
}

type Behaviour = Box<dyn Fn(usize) -> BoxFuture<Result<FetchOutcome, FetchError>> + Send + Sync>;

struct Fake {
    id: String,
    quotas: Vec<QuotaDefinition>,
    calls: Arc<AtomicUsize>,
    behaviour: Behaviour,
    fingerprint: Option<String>,
}

impl UsageProvider for Fake {
    fn id(&self) -> &str {
        &self.id
    }
    fn quotas(&self) -> &[QuotaDefinition] {
        &self.quotas
    }
    fn authentication(&self) -> BoxFuture<Result<Authentication, FetchError>> {
        Box::pin(async { Ok(Authentication::Ready) })
    }
    fn fetch_usage(&self) -> BoxFuture<Result<FetchOutcome, FetchError>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        (self.behaviour)(n)
    }
    fn account_fingerprint(&self) -> Option<String> {
        self.fingerprint.clone()
    }
}

fn fake(id: &str, behaviour: Behaviour) -> (Arc<Fake>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let quotas = vec![QuotaDefinition::new(
        "q",
        QuotaKind::Amount { amount: 10.0 },
    )];
    (
        Arc::new(Fake {
            id: id.into(),
            quotas,
            calls: calls.clone(),
            behaviour,
            fingerprint: None,
        }),
        calls,
    )
}

fn ok_used(used: f64) -> Result<FetchOutcome, FetchError> {
    let mut s = UsageSnapshot::new("q");
    s.used = Some(used);
    Ok(FetchOutcome {
        snapshots: vec![s],
        ..Default::default()
    })
}

fn tracker(clock: Arc<ManualClock>, sink: Arc<CountingSink>) -> Tracker {
    let options = TrackerOptions {
        interval_ms: INTERVAL,
        request_timeout_ms: 1_000,
        ..Default::default()
    };
    Tracker::new(options, clock, sink).unwrap()
}

#[tokio::test]
async fn backoff_growth_capped_at_eight_intervals() {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = tracker(clock.clone(), Arc::default());
    let (p, calls) = fake(
        "down",
        Box::new(|_| Box::pin(async { Err(FetchError::new(ErrorKind::Server, "503")) })),
    );
    t.register(p).unwrap();
    let mut fetched_at_tick = Vec::new();
    for tick in 0..60 {
        let before = calls.load(Ordering::SeqCst);
        t.tick().await;
        if calls.load(Ordering::SeqCst) > before {
            fetched_at_tick.push(tick);
        }
        clock.advance(INTERVAL as i64);
    }
    let gaps: Vec<i64> = fetched_at_tick.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps[..9], [2, 3, 4, 5, 6, 7, 8, 8, 8]);
    assert_eq!(
        t.get("down", "default").unwrap().fails as usize,
        calls.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn recovery_resets_fails_and_healthy_is_fetched_every_tick() {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = tracker(clock.clone(), Arc::default());
    let (p, calls) = fake(
        "flaky",
        Box::new(|n| {
            Box::pin(async move {
                if n == 1 {
                    Err(FetchError::new(ErrorKind::Network, "x"))
                } else {
                    ok_used(n as f64)
                }
            })
        }),
    );
    t.register(p).unwrap();
    t.tick().await; // ok
    clock.advance(INTERVAL as i64);
    t.tick().await; // fails
    assert_eq!(
        t.get("flaky", "default").unwrap().windows[0].used,
        0.0,
        "last good kept"
    );
    clock.advance(2 * INTERVAL as i64);
    t.tick().await; // recovers
    let e = t.get("flaky", "default").unwrap();
    assert_eq!((e.fails, e.windows[0].used), (0, 2.0));
    for _ in 0..5 {
        clock.advance(INTERVAL as i64);
        t.tick().await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 8);
}

#[tokio::test]
async fn forced_refresh_never_bypasses_retry_at() {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let sink = Arc::new(CountingSink::default());
    let t = tracker(clock.clone(), sink.clone());
    let (p, calls) = fake(
        "limited",
        Box::new(|_| {
            Box::pin(async {
                Err(FetchError::new(ErrorKind::RateLimited, "429").with_retry_at(T0 + 300_000))
            })
        }),
    );
    t.register(p).unwrap();
    t.refresh(None).await.unwrap();
    t.refresh(None).await.unwrap();
    clock.advance(299_999);
    t.refresh(Some("limited")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    clock.advance(1);
    t.refresh(None).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        sink.0.load(Ordering::SeqCst),
        4,
        "listeners still run once per cycle"
    );
}

#[tokio::test(start_paused = true)]
async fn providers_run_concurrently_and_a_hung_one_times_out_alone() {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = tracker(clock, Arc::default());
    for id in ["a", "b", "c"] {
        let (p, _) = fake(
            id,
            Box::new(|_| {
                Box::pin(async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    ok_used(1.0)
                })
            }),
        );
        t.register(p).unwrap();
    }
    let (hung, _) = fake("hung", Box::new(|_| Box::pin(std::future::pending())));
    t.register(hung).unwrap();
    let started = tokio::time::Instant::now();
    t.refresh(None).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1_000) && took < Duration::from_millis(1_100),
        "{took:?}"
    );
    for id in ["a", "b", "c"] {
        assert_eq!(t.get(id, "default").unwrap().windows[0].used, 1.0);
    }
    let e = t.get("hung", "default").unwrap();
    assert_eq!(e.error.unwrap().kind, ErrorKind::Timeout);
}

#[tokio::test(start_paused = true)]
async fn results_reach_the_store_while_a_hung_provider_is_still_pending() {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let sink = Arc::new(CountingSink::default());
    let t = tracker(clock, sink.clone());
    let (fast, _) = fake(
        "fast",
        Box::new(|_| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                ok_used(3.0)
            })
        }),
    );
    let (hung, _) = fake("hung", Box::new(|_| Box::pin(std::future::pending())));
    t.register(fast).unwrap();
    t.register(hung).unwrap();
    let cycle = tokio::spawn({
        let t = t.clone();
        async move { t.refresh(None).await }
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(t.get("fast", "default").unwrap().windows[0].used, 3.0);
    assert_eq!(
        sink.0.load(Ordering::SeqCst),
        0,
        "listeners wait for the whole cycle"
    );
    cycle.await.unwrap().unwrap();
    assert_eq!(sink.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn stop_during_a_hung_fetch_returns_promptly_and_publishes_nothing() {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let sink = Arc::new(CountingSink::default());
    let options = TrackerOptions {
        interval_ms: INTERVAL,
        request_timeout_ms: 60_000,
        ..Default::default()
    };
    let t = Tracker::new(options, clock, sink.clone()).unwrap();
    let (hung, calls) = fake("hung", Box::new(|_| Box::pin(std::future::pending())));
    t.register(hung).unwrap();
    t.start(&Handle::current());
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    t.stop().await;
    assert!(started.elapsed() < Duration::from_millis(200));
    assert!(!t.is_running());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(sink.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn duplicate_and_invalid_registrations_are_errors() {
    let t = tracker(Arc::new(ManualClock(AtomicI64::new(T0))), Arc::default());
    let (p, _) = fake("x", Box::new(|_| Box::pin(async { ok_used(0.0) })));
    t.register(p.clone()).unwrap();
    assert_eq!(
        t.register(p).unwrap_err(),
        CoreError::DuplicateProvider("x".into())
    );
    let (slash, _) = fake("a/b", Box::new(|_| Box::pin(async { ok_used(0.0) })));
    assert!(matches!(
        t.register(slash),
        Err(CoreError::InvalidProviderId(_))
    ));
    assert!(matches!(
        t.refresh(Some("nope")).await,
        Err(CoreError::UnknownProvider(_))
    ));
}

#[tokio::test]
async fn select_best_model_ranks_model_pairs_from_the_store() {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = tracker(clock.clone(), Arc::default());
    // "full" has used its 10 of 10, "roomy" 3, "tight" 6; "down" never answers well.
    for (id, used) in [("full", 10.0), ("roomy", 3.0), ("tight", 6.0)] {
        let (p, _) = fake(
            id,
            Box::new(move |_| Box::pin(async move { ok_used(used) })),
        );
        t.register(p).unwrap();
    }
    let (down, _) = fake(
        "down",
        Box::new(|_| Box::pin(async { Err(FetchError::new(ErrorKind::Server, "503")) })),
    );
    t.register(down).unwrap();
    t.tick().await;
    let pair = |p: &str, m: &str| (p.to_string(), m.to_string());
    let pairs = [
        pair("full", "m-full"),
        pair("down", "m-down"),
        pair("tight", "m-tight"),
        pair("roomy", "m-roomy"),
    ];
    let s = t.select_best_model(&pairs);
    assert_eq!(
        (s.provider_id.as_deref(), s.model_id.as_deref(), s.decision),
        (Some("roomy"), Some("m-roomy"), Decision::Proceed)
    );
    assert_eq!(
        s.reason,
        "roomy has the most room (70% left vs 40% left for tight)"
    );
    let ranking: Vec<_> = s
        .ranking
        .iter()
        .map(|c| {
            (
                c.provider_id.as_str(),
                c.model_id.as_deref(),
                c.check.decision,
            )
        })
        .collect();
    assert_eq!(
        ranking,
        [
            ("roomy", Some("m-roomy"), Decision::Proceed),
            ("tight", Some("m-tight"), Decision::Proceed),
            ("full", Some("m-full"), Decision::Exhausted),
            ("down", Some("m-down"), Decision::Unknown),
        ]
    );
    // Only the used-up and the unknown: the best is named with its verdict, never as room.
    let s = t.select_best_model(&[pair("down", "m-down"), pair("full", "m-full")]);
    assert_eq!(
        (s.provider_id.as_deref(), s.decision),
        (Some("full"), Decision::Exhausted)
    );
    let s = t.select_best_model(&[pair("down", "m-down")]);
    assert_eq!((s.provider_id, s.model_id), (None, None));
    // Values too old to decide on rank like no values at all.
    clock.advance(16 * 60_000);
    let s = t.select_best_model(&pairs[2..]);
    assert_eq!(
        (s.provider_id, s.decision),
        (None, Decision::Unknown),
        "{}",
        s.reason
    );
}

/// A 5 h percent window whose usage the test scripts per call, for an account with a
/// fingerprint (so it is cached and has a history).
fn five_hour_account(
    id: &str,
    used_at: Arc<dyn Fn(usize) -> f64 + Send + Sync>,
    resets_at: i64,
) -> Arc<Fake> {
    let quotas = vec![QuotaDefinition::new("5h", QuotaKind::Percentage).with_duration(18_000.0)];
    Arc::new(Fake {
        id: id.into(),
        quotas,
        calls: Arc::new(AtomicUsize::new(0)),
        behaviour: Box::new(move |n| {
            let mut s = UsageSnapshot::new("5h");
            s.used_ratio = Some(used_at(n));
            s.resets_at = Some(resets_at);
            Box::pin(async move {
                Ok(FetchOutcome {
                    snapshots: vec![s],
                    ..Default::default()
                })
            })
        }),
        fingerprint: Some("acct".into()),
    })
}

fn with_cache(clock: Arc<ManualClock>, dir: &std::path::Path, history: bool) -> Tracker {
    let options = TrackerOptions {
        interval_ms: INTERVAL,
        request_timeout_ms: 1_000,
        cache_path: Some(dir.join("usage.json")),
        history,
        ..Default::default()
    };
    Tracker::new(options, clock, Arc::new(CountingSink::default())).unwrap()
}

#[tokio::test]
async fn pace_comes_from_the_measured_rate_once_the_history_allows() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = with_cache(clock.clone(), dir.path(), true);
    // Started with the first fetch; 0.1/h for 90 minutes, then 0.4/h.
    let used = |n: usize| {
        let h = n as f64 / 60.0;
        if h <= 1.5 {
            0.1 * h
        } else {
            0.15 + 0.4 * (h - 1.5)
        }
    };
    let resets_at = T0 + 5 * 3_600_000;
    t.register(five_hour_account("a", Arc::new(used), resets_at))
        .unwrap();
    t.tick().await;
    let first = t.get_window("a", "5h", DEFAULT_MODEL).unwrap();
    assert_eq!(
        first.pace_source,
        Some(PaceSource::Linear),
        "no history yet"
    );
    for _ in 0..180 {
        clock.advance(INTERVAL as i64);
        t.tick().await;
    }
    let w = t.get_window("a", "5h", DEFAULT_MODEL).unwrap();
    assert_eq!(w.pace_source, Some(PaceSource::Measured));
    // 3 h in, 0.75 used: the straight line (0.25/h) says 1 h left, the last hour (0.4/h) 37.5 min.
    let out = w.runs_out_at.unwrap() - clock.now_ms();
    assert!((out - 2_250_000).abs() < 60_000, "{out}");
    let points = t.history("a", "5h", DEFAULT_MODEL, None).await.unwrap();
    assert_eq!(points.len(), 181);
    assert!(points
        .windows(2)
        .all(|p| p[1].at - p[0].at == INTERVAL as i64));
    let recent = t
        .history("a", "5h", DEFAULT_MODEL, Some(clock.now_ms() - 600_000))
        .await
        .unwrap();
    assert_eq!(recent.len(), 11);
    assert!(t
        .history("a", "7d", DEFAULT_MODEL, None)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        t.history("nope", "5h", DEFAULT_MODEL, None)
            .await
            .unwrap_err(),
        CoreError::UnknownProvider("nope".into())
    );
    assert!(t.warnings().is_empty());
}

#[tokio::test]
async fn processes_sharing_a_cache_record_each_result_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let resets_at = T0 + 5 * 3_600_000;
    let trackers: Vec<Tracker> = (0..3)
        .map(|_| with_cache(clock.clone(), dir.path(), true))
        .collect();
    for t in &trackers {
        t.register(five_hour_account(
            "a",
            Arc::new(|n| n as f64 / 100.0),
            resets_at,
        ))
        .unwrap();
    }
    for _ in 0..10 {
        for t in &trackers {
            t.tick().await;
        }
        clock.advance(INTERVAL as i64);
    }
    let points = trackers[2]
        .history("a", "5h", DEFAULT_MODEL, None)
        .await
        .unwrap();
    assert_eq!(points.len(), 10, "one point per fetch, whoever stored it");
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with(".jsonl"))
        .unwrap();
    let lines = std::fs::read_to_string(file.path())
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, 1 + 10);
}

#[tokio::test]
async fn no_history_without_a_cache_or_when_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let resets_at = T0 + 5 * 3_600_000;
    let off = with_cache(clock.clone(), dir.path(), false);
    let no_cache = tracker(clock.clone(), Arc::default());
    for t in [&off, &no_cache] {
        t.register(five_hour_account(
            "a",
            Arc::new(|n| n as f64 / 100.0),
            resets_at,
        ))
        .unwrap();
        t.tick().await;
        assert!(t
            .history("a", "5h", DEFAULT_MODEL, None)
            .await
            .unwrap()
            .is_empty());
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".history-")), "{names:?}");
}

/// A provider whose model responses carry `x-used: <n>` for window `q`.
struct Observing {
    inner: Fake,
}

impl UsageProvider for Observing {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn quotas(&self) -> &[QuotaDefinition] {
        self.inner.quotas()
    }
    fn authentication(&self) -> BoxFuture<Result<Authentication, FetchError>> {
        self.inner.authentication()
    }
    fn fetch_usage(&self) -> BoxFuture<Result<FetchOutcome, FetchError>> {
        self.inner.fetch_usage()
    }
    fn account_fingerprint(&self) -> Option<String> {
        self.inner.account_fingerprint()
    }
    fn observe(
        &self,
        _status: u16,
        headers: &[(String, String)],
        _now: i64,
    ) -> Option<FetchOutcome> {
        let used = headers
            .iter()
            .find(|(k, _)| k == "x-used")?
            .1
            .parse::<f64>()
            .ok()?;
        let mut s = UsageSnapshot::new("q");
        s.used = Some(used);
        // `x-reset: <epoch ms>`, as real quota headers carry the reset.
        s.resets_at = headers
            .iter()
            .find(|(k, _)| k == "x-reset")
            .and_then(|(_, v)| v.parse().ok());
        Some(FetchOutcome {
            snapshots: vec![s],
            ..Default::default()
        })
    }
}

#[tokio::test]
async fn observed_headers_merge_into_the_store_publish_and_save_a_poll() {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let sink = Arc::new(CountingSink::default());
    let t = tracker(clock.clone(), sink.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let quotas = vec![
        QuotaDefinition::new("q", QuotaKind::Amount { amount: 10.0 }),
        QuotaDefinition::new("q2", QuotaKind::Amount { amount: 10.0 }),
    ];
    let p = Observing {
        inner: Fake {
            id: "p".into(),
            quotas,
            calls: calls.clone(),
            behaviour: Box::new(|_| {
                Box::pin(async {
                    let mut a = UsageSnapshot::new("q");
                    a.used = Some(1.0);
                    let mut b = UsageSnapshot::new("q2");
                    b.used = Some(2.0);
                    Ok(FetchOutcome {
                        snapshots: vec![a, b],
                        ..Default::default()
                    })
                })
            }),
            fingerprint: None,
        },
    };
    t.register(Arc::new(p)).unwrap();
    t.tick().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let published = sink.0.load(Ordering::SeqCst);

    let handle = Handle::current();
    let hdr = |v: &str| vec![("x-used".to_string(), v.to_string())];
    clock.advance(INTERVAL as i64 / 2);
    assert!(t.observe_response(&handle, "p", 200, &hdr("5")));
    let e = t.get("p", "default").unwrap();
    let used: Vec<f64> = e.windows.iter().map(|w| w.used).collect();
    assert_eq!(
        used,
        [5.0, 2.0],
        "the header's window replaced, the other kept"
    );
    assert_eq!(e.updated, T0 + INTERVAL as i64 / 2, "stamped fresh");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        sink.0.load(Ordering::SeqCst),
        published + 1,
        "published at once"
    );

    // Garbage and unknown providers change nothing.
    assert!(!t.observe_response(&handle, "p", 200, &hdr("NaN-ish")));
    assert!(!t.observe_response(&handle, "nobody", 200, &hdr("1")));
    assert_eq!(t.get("p", "default").unwrap().windows[0].used, 5.0);

    // The scheduled poll at T0 + interval finds traffic fresh and skips the request.
    clock.advance(INTERVAL as i64 / 2);
    t.tick().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(t.stats().requests_saved, 1);
    assert_eq!(t.stats().observed_responses, 1);
    // A whole interval without traffic: polled again.
    clock.advance(INTERVAL as i64);
    t.tick().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn observed_values_join_the_history_and_its_burn_rate() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = with_cache(clock.clone(), dir.path(), true);
    let quotas = vec![
        QuotaDefinition::new("q", QuotaKind::Amount { amount: 100.0 }).with_duration(18_000.0),
    ];
    let resets_at = T0 + 4 * 3_600_000;
    let p = Observing {
        inner: Fake {
            id: "p".into(),
            quotas,
            calls: Arc::new(AtomicUsize::new(0)),
            behaviour: Box::new(move |_| {
                Box::pin(async move {
                    let mut s = UsageSnapshot::new("q");
                    s.used = Some(20.0);
                    s.resets_at = Some(resets_at);
                    Ok(FetchOutcome {
                        snapshots: vec![s],
                        ..Default::default()
                    })
                })
            }),
            fingerprint: Some("acct".into()),
        },
    };
    t.register(Arc::new(p)).unwrap();
    t.tick().await;
    let handle = Handle::current();
    // One response a minute, each 0.5 more used: 0.5 %/min, 30 %/h.
    for i in 1..=20 {
        clock.advance(60_000);
        let headers = [
            ("x-used".to_string(), format!("{}", 20.0 + 0.5 * i as f64)),
            ("x-reset".to_string(), resets_at.to_string()),
        ];
        assert!(t.observe_response(&handle, "p", 200, &headers));
        // The record runs on the runtime after the store is updated.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let points = t.history("p", "q", DEFAULT_MODEL, None).await.unwrap();
    assert_eq!(points.len(), 21, "the fetch and every observed response");
    assert_eq!(points.last().unwrap().used, Some(30.0));
    let w = t.get_window("p", "q", DEFAULT_MODEL).unwrap();
    assert_eq!(w.pace_source, Some(PaceSource::Measured));
    // 70 left at 30 %/h: 2 h 20 min, before the reset 3 h 40 min away.
    let out = w.runs_out_at.unwrap() - clock.now_ms();
    assert!((out - 8_400_000).abs() < 60_000, "{out}");
}

#[tokio::test]
async fn a_far_retry_at_from_any_provider_is_capped_like_retry_after() {
    use crate::providers::http::MAX_RETRY_AFTER_MS;
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = tracker(clock.clone(), Arc::default());
    let (p, calls) = fake(
        "far",
        Box::new(|_| {
            Box::pin(async {
                Err(FetchError::new(ErrorKind::RateLimited, "wait").with_retry_at(i64::MAX))
            })
        }),
    );
    t.register(p).unwrap();
    t.refresh(None).await.unwrap();
    let e = t.get("far", "default").unwrap();
    assert_eq!(e.error.unwrap().retry_at, Some(T0 + MAX_RETRY_AFTER_MS));
    clock.advance(MAX_RETRY_AFTER_MS);
    t.refresh(None).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "asked again after the cap");
}

#[tokio::test]
async fn too_many_snapshots_are_a_provider_error_and_last_values_stay() {
    use crate::validate::MAX_SNAPSHOTS_PER_FETCH;
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = tracker(clock.clone(), Arc::default());
    let (p, _) = fake(
        "flood",
        Box::new(|n| {
            Box::pin(async move {
                if n == 0 {
                    return ok_used(1.0);
                }
                let mut s = UsageSnapshot::new("q");
                s.used = Some(2.0);
                Ok(FetchOutcome {
                    snapshots: vec![s; MAX_SNAPSHOTS_PER_FETCH + 1],
                    ..Default::default()
                })
            })
        }),
    );
    t.register(p).unwrap();
    t.refresh(None).await.unwrap();
    t.refresh(None).await.unwrap();
    let e = t.get("flood", "default").unwrap();
    let error = e.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Provider);
    assert_eq!(
        error.message,
        "flood: fetchUsage returned 10001 snapshots; at most 10000 are accepted"
    );
    assert_eq!(e.windows[0].used, 1.0, "last good values kept");
}

/// A provider whose results go through the shared cache.
struct Shared(Fake);

impl UsageProvider for Shared {
    fn id(&self) -> &str {
        self.0.id()
    }
    fn quotas(&self) -> &[QuotaDefinition] {
        self.0.quotas()
    }
    fn authentication(&self) -> BoxFuture<Result<Authentication, FetchError>> {
        self.0.authentication()
    }
    fn fetch_usage(&self) -> BoxFuture<Result<FetchOutcome, FetchError>> {
        self.0.fetch_usage()
    }
    fn account_fingerprint(&self) -> Option<String> {
        Some("fp".into())
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_cache_warning_is_surfaced() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere.json");
    std::fs::write(&target, "{}").unwrap();
    let link = dir.path().join("usage.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let options = TrackerOptions {
        cache_path: Some(link),
        ..Default::default()
    };
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = Tracker::new(options, clock, Arc::<CountingSink>::default()).unwrap();
    assert_eq!(t.cache_warning(), None, "nothing read yet");
    let p = Shared(Fake {
        id: "p".into(),
        quotas: vec![QuotaDefinition::new(
            "q",
            QuotaKind::Amount { amount: 10.0 },
        )],
        calls: Arc::default(),
        behaviour: Box::new(|_| Box::pin(async { ok_used(1.0) })),
        fingerprint: None,
    });
    t.register(Arc::new(p)).unwrap();
    t.refresh(None).await.unwrap();
    let warning = t.cache_warning().expect("a symlink turns the cache off");
    assert!(warning.contains("symbolic link"), "{warning}");
    assert_eq!(t.get("p", "default").unwrap().windows[0].used, 1.0);
}

#[tokio::test]
async fn a_cached_result_over_the_snapshot_cap_is_neither_seeded_nor_used() {
    use crate::cache::SharedCache;
    use crate::validate::MAX_SNAPSHOTS_PER_FETCH;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.json");
    let mut s = UsageSnapshot::new("q");
    s.used = Some(9.0);
    let flood = FetchOutcome {
        snapshots: vec![s; MAX_SNAPSHOTS_PER_FETCH + 1],
        ..Default::default()
    };
    SharedCache::new(path.clone()).write_success("p", "fp", &flood, T0);
    let options = TrackerOptions {
        cache_path: Some(path),
        ..Default::default()
    };
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = Tracker::new(options, clock, Arc::<CountingSink>::default()).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let p = Shared(Fake {
        id: "p".into(),
        quotas: vec![QuotaDefinition::new(
            "q",
            QuotaKind::Amount { amount: 10.0 },
        )],
        calls: calls.clone(),
        behaviour: Box::new(|_| Box::pin(async { ok_used(1.0) })),
        fingerprint: None,
    });
    t.register(Arc::new(p)).unwrap();
    assert!(t.get("p", "default").is_none(), "not seeded");
    t.refresh(None).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "fetched, not taken from the file"
    );
    assert_eq!(t.get("p", "default").unwrap().windows[0].used, 1.0);
}

/// Reports one window named by `x-win`, `x-len` seconds long, on every response.
struct Naming {
    inner: Fake,
}

impl UsageProvider for Naming {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn quotas(&self) -> &[QuotaDefinition] {
        self.inner.quotas()
    }
    fn authentication(&self) -> BoxFuture<Result<Authentication, FetchError>> {
        self.inner.authentication()
    }
    fn fetch_usage(&self) -> BoxFuture<Result<FetchOutcome, FetchError>> {
        self.inner.fetch_usage()
    }
    fn observe(&self, _: u16, headers: &[(String, String)], _: i64) -> Option<FetchOutcome> {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut s = UsageSnapshot::new(get("x-win")?);
        s.used_ratio = Some(0.5);
        s.duration_secs = get("x-len").and_then(|l| l.parse().ok());
        Some(FetchOutcome {
            extra_quotas: vec![QuotaDefinition::new(s.id.clone(), QuotaKind::Percentage)],
            snapshots: vec![s],
            ..Default::default()
        })
    }
}

#[tokio::test]
async fn header_windows_stay_within_the_bound_are_forgotten_unseen_and_yield_to_a_poll() {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = tracker(clock.clone(), Arc::default());
    let (fake, _) = fake("p", Box::new(|_| Box::pin(async { ok_used(1.0) })));
    let fake = Arc::into_inner(fake).unwrap();
    t.register(Arc::new(Naming { inner: fake })).unwrap();
    t.tick().await;
    let handle = Handle::current();
    let ids = |t: &Tracker| -> Vec<String> {
        let mut ids: Vec<String> = t.entries()[0]
            .windows
            .iter()
            .map(|w| w.id.clone())
            .collect();
        ids.sort();
        ids
    };
    let hdr = |win: &str, len: &str| {
        vec![
            ("x-win".to_string(), win.to_string()),
            ("x-len".to_string(), len.to_string()),
        ]
    };
    for i in 0..2_000 {
        t.observe_response(&handle, "p", 200, &hdr(&format!("fam{i}"), "3600"));
        clock.advance(10);
    }
    let now = ids(&t);
    assert_eq!(now.len(), 1 + observe::MAX_HEADER_WINDOWS, "{now:?}");
    assert!(now.contains(&"q".to_string()), "the poll's window stays");
    assert!(now.contains(&"fam1999".to_string()), "the newest are kept");
    // The polled window updated by headers is not a learned one.
    t.observe_response(&handle, "p", 200, &hdr("q", "3600"));
    assert_eq!(ids(&t).len(), 1 + observe::MAX_HEADER_WINDOWS);

    // Unseen for their own length (an hour): forgotten at the next response.
    clock.advance(3_600_001);
    t.observe_response(&handle, "p", 200, &hdr("short", "60"));
    assert_eq!(ids(&t), ["q", "short"]);

    // A poll's answer replaces what headers taught.
    t.refresh(None).await.unwrap();
    assert_eq!(ids(&t), ["q"]);
}

#[test]
fn interval_below_one_second_is_refused() {
    let mut o = TrackerOptions {
        interval_ms: 999,
        ..Default::default()
    };
    let err = o.check().unwrap_err().to_string();
    assert!(err.contains("intervalMs") && err.contains("1000"), "{err}");
    o.interval_ms = crate::validate::MIN_INTERVAL_MS;
    assert!(o.check().is_ok());
}

#[test]
fn warn_below_critical_is_refused() {
    let mut o = TrackerOptions::default();
    o.thresholds.warn_at = 0.05;
    assert!(o.check().unwrap_err().to_string().contains("warnAt"));
}

/// Results that fail a check: a discovered quota with a negative amount, a snapshot with a
/// NaN, more snapshots than the cap; and the words each failure is named with.
fn bad_outcomes() -> Vec<(FetchOutcome, &'static str)> {
    let mut quota = ok_used(1.0).unwrap();
    quota.extra_quotas = vec![QuotaDefinition::new(
        "extra",
        QuotaKind::Amount { amount: -1.0 },
    )];
    let mut nan = ok_used(1.0).unwrap();
    nan.snapshots[0].used = Some(f64::NAN);
    let mut flood = ok_used(1.0).unwrap();
    flood.snapshots =
        vec![flood.snapshots[0].clone(); crate::validate::MAX_SNAPSHOTS_PER_FETCH + 1];
    vec![
        (quota, "`amount` must be a non-negative number"),
        (nan, "`used` is NaN"),
        (flood, "snapshots; at most"),
    ]
}

#[test]
fn every_origin_passes_the_same_checks() {
    use admit::{Arrival, Origin, Refused};
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = tracker(clock, Arc::default());
    let (p, _) = fake("p", Box::new(|_| Box::pin(async { ok_used(1.0) })));
    t.register(p.clone()).unwrap();
    let admit = |origin, outcome| {
        let mut state = lock(&t.inner.state);
        let arrival = Arrival::Outcome {
            origin,
            outcome,
            at: T0,
        };
        let keys = AccountKeys::default();
        (t.inner).admit(
            &mut state,
            p.as_ref(),
            keys,
            arrival,
            Default::default(),
            T0,
        )
    };
    assert!(admit(Origin::Fetched, ok_used(2.0).unwrap()).is_ok());
    for (bad, words) in bad_outcomes() {
        let before = t.get("p", "default").unwrap();
        for origin in [Origin::Cached, Origin::Observed, Origin::Seeded] {
            match admit(origin, bad.clone()) {
                Err(Refused::Invalid(reason)) => assert!(reason.contains(words), "{reason}"),
                other => panic!("{origin:?} took a bad result: {:?}", other.is_ok()),
            }
            let entry = t.get("p", "default").unwrap();
            assert_eq!(entry, before, "{origin:?}: the store is unchanged");
        }
        // Fetched, it is the provider's failure: named, counted, last values kept.
        let fails = before.fails;
        assert!(admit(Origin::Fetched, bad).is_ok());
        let entry = t.get("p", "default").unwrap();
        let error = entry.error.expect("a provider error");
        assert_eq!(error.kind, ErrorKind::Provider);
        assert!(error.message.contains(words), "{}", error.message);
        assert_eq!((entry.fails, entry.windows[0].used), (fails + 1, 2.0));
    }
}

#[tokio::test]
async fn a_fetched_result_with_a_bad_discovered_quota_is_a_provider_error() {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = tracker(clock, Arc::default());
    let (p, _) = fake(
        "p",
        Box::new(|n| {
            Box::pin(async move {
                let mut outcome = ok_used(1.0)?;
                if n > 0 {
                    outcome.extra_quotas = vec![QuotaDefinition::new("", QuotaKind::Percentage)];
                }
                Ok(outcome)
            })
        }),
    );
    t.register(p).unwrap();
    t.refresh(None).await.unwrap();
    t.refresh(None).await.unwrap();
    let entry = t.get("p", "default").unwrap();
    let message = entry.error.map(|e| e.message).unwrap_or_default();
    assert!(
        message.contains("`id` must be a non-empty string"),
        "{message}"
    );
    assert_eq!((entry.fails, entry.windows[0].used), (1, 1.0));
}

#[tokio::test]
async fn providers_are_published_once_each_with_their_facts_and_models() {
    use std::sync::Mutex as StdMutex;
    #[derive(Default)]
    struct Keeping(StdMutex<Vec<CycleUpdate>>);
    impl UpdateSink for Keeping {
        fn publish(&self, update: CycleUpdate) -> BoxFuture<()> {
            self.0.lock().unwrap().push(update);
            Box::pin(async {})
        }
    }
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let sink = Arc::new(Keeping::default());
    let t = Tracker::new(TrackerOptions::default(), clock, sink.clone()).unwrap();
    let (p, _) = fake(
        "p",
        Box::new(|_| {
            Box::pin(async {
                let mut a = UsageSnapshot::new("q");
                a.used = Some(1.0);
                a.model_id = Some("m1".into());
                let mut b = a.clone();
                b.model_id = Some("m2".into());
                b.warnings = vec!["half read".into()];
                Ok(FetchOutcome {
                    snapshots: vec![a, b],
                    plan: Some("pro".into()),
                    ..Default::default()
                })
            })
        }),
    );
    t.register(p).unwrap();
    t.refresh(None).await.unwrap();
    let published = sink.0.lock().unwrap().last().unwrap().providers.clone();
    assert_eq!(published, t.providers());
    assert_eq!(published.len(), 1);
    let view = &published[0];
    assert_eq!((view.id.as_str(), view.label.as_str()), ("p", "p"));
    assert_eq!(view.plan.as_deref(), Some("pro"));
    assert_eq!(view.warnings, ["half read"]);
    let models: Vec<_> = view.models.iter().map(|m| m.model_id.as_str()).collect();
    assert_eq!(models, ["m1", "m2"]);
    assert_eq!(t.entries().len(), 2, "entries stay, one per model");
}

fn fingerprinted(id: &str, fp: &str, behaviour: Behaviour) -> Arc<Fake> {
    let (p, _) = fake(id, behaviour);
    let mut p = Arc::into_inner(p).unwrap();
    p.fingerprint = Some(fp.into());
    Arc::new(p)
}

fn cached_used(dir: &std::path::Path, id: &str, fp: &str) -> Option<f64> {
    let record = SharedCache::new(dir.join("usage.json")).read_record(id, fp)?;
    record.outcome.snapshots.first()?.used
}

#[tokio::test]
async fn a_cycle_writes_the_shared_cache_once_with_every_result_compact() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = with_cache(clock.clone(), dir.path(), false);
    let gate = Arc::new(tokio::sync::Notify::new());
    let opened = gate.clone();
    t.register(fingerprinted(
        "quick",
        "a",
        Box::new(|_| Box::pin(async { ok_used(2.0) })),
    ))
    .unwrap();
    let slow = move |_| -> BoxFuture<Result<FetchOutcome, FetchError>> {
        let gate = opened.clone();
        Box::pin(async move {
            gate.notified().await;
            ok_used(4.0)
        })
    };
    t.register(fingerprinted("slow", "b", Box::new(slow)))
        .unwrap();
    let cycle = tokio::spawn({
        let t = t.clone();
        async move { t.tick().await }
    });
    for _ in 0..400 {
        if t.get("quick", DEFAULT_MODEL).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(t.get("quick", DEFAULT_MODEL).unwrap().windows[0].used, 2.0);
    assert!(
        !dir.path().join("usage.json").exists(),
        "the first result is in the store, the cache waits for the cycle's end"
    );
    gate.notify_one();
    cycle.await.unwrap();
    assert_eq!(cached_used(dir.path(), "quick", "a"), Some(2.0));
    assert_eq!(cached_used(dir.path(), "slow", "b"), Some(4.0));
    let text = std::fs::read_to_string(dir.path().join("usage.json")).unwrap();
    assert!(
        !text.contains('\n') && !text.contains("  "),
        "compact: {text}"
    );
}

#[tokio::test(start_paused = true)]
async fn header_fed_values_reach_the_cache_at_most_once_per_few_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let t = with_cache(clock.clone(), dir.path(), false);
    let p = Observing {
        inner: Arc::into_inner(fingerprinted(
            "p",
            "acct",
            Box::new(|_| Box::pin(async { ok_used(1.0) })),
        ))
        .unwrap(),
    };
    t.register(Arc::new(p)).unwrap();
    t.tick().await;
    assert_eq!(cached_used(dir.path(), "p", "acct"), Some(1.0));
    let handle = Handle::current();
    let hdr = |v: &str| vec![("x-used".to_string(), v.to_string())];
    clock.advance(1_000);
    assert!(t.observe_response(&handle, "p", 200, &hdr("5")));
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        cached_used(dir.path(), "p", "acct"),
        Some(5.0),
        "the first at once"
    );
    for used in ["6", "7"] {
        clock.advance(1_000);
        assert!(t.observe_response(&handle, "p", 200, &hdr(used)));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(cached_used(dir.path(), "p", "acct"), Some(5.0), "held back");
    }
    tokio::time::sleep(Duration::from_millis(observe::SHARE_EVERY_MS as u64)).await;
    let record = SharedCache::new(dir.path().join("usage.json"))
        .read_record("p", "acct")
        .unwrap();
    assert_eq!(
        record.outcome.snapshots[0].used,
        Some(7.0),
        "the latest, once"
    );
    assert_eq!(record.fetched_at, T0 + 3_000, "stamped when it arrived");
}

#[tokio::test]
async fn concurrent_refreshes_of_a_provider_share_one_request() {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let sink = Arc::new(CountingSink::default());
    let t = tracker(clock.clone(), sink.clone());
    let (p, calls) = fake(
        "p",
        Box::new(|_| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                ok_used(3.0)
            })
        }),
    );
    t.register(p).unwrap();
    let (other, other_calls) = fake("other", Box::new(|_| Box::pin(async { ok_used(1.0) })));
    t.register(other).unwrap();
    let all: Vec<_> = (0..100)
        .map(|_| {
            let t = t.clone();
            tokio::spawn(async move { t.refresh(Some("p")).await })
        })
        .collect();
    for r in all {
        r.await.unwrap().unwrap();
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one request for 100 refreshes"
    );
    assert_eq!(
        other_calls.load(Ordering::SeqCst),
        0,
        "only the provider asked for"
    );
    assert_eq!(
        sink.0.load(Ordering::SeqCst),
        1,
        "one publish, every caller after it"
    );
    assert_eq!(t.get("p", DEFAULT_MODEL).unwrap().windows[0].used, 3.0);
    // Once it is over, the next refresh asks again.
    t.refresh(Some("p")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// groq, cerebras, openai and mistral have no usage endpoint: the cycle never asks one, and a
/// model response's rate-limit headers are what the entry shows.
#[tokio::test]
async fn a_header_only_builtin_is_never_polled_and_shows_what_a_response_said() {
    use crate::credentials::{CredentialKind, Credentials};
    use crate::providers::{create_builtin, BuiltinConfig};

    let t = Tracker::new(
        TrackerOptions::default(),
        Arc::new(crate::clock::SystemClock),
        Arc::new(CountingSink::default()),
    )
    .unwrap();
    let groq = create_builtin(
        "groq",
        BuiltinConfig {
            instance_id: None,
            // A closed port: any request would fail and leave an error on the entry.
            base_url: Some("http://127.0.0.1:9".into()),
            credentials: Some(Credentials::new("gsk-test", CredentialKind::ApiKey)),
            wire: crate::providers::WireConfig::default(),
        },
    )
    .unwrap();
    t.register(groq).unwrap();
    t.tick().await;
    assert!(
        t.get("groq", "default").is_none(),
        "not polled: no entry, no error"
    );
    let raw: Vec<(String, String)> = [
        ("x-ratelimit-limit-requests", "1000"),
        ("x-ratelimit-remaining-requests", "990"),
        ("x-ratelimit-limit-tokens", "6000"),
        ("x-ratelimit-remaining-tokens", "5000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let handle = tokio::runtime::Handle::current();
    assert!(t.observe_response(&handle, "groq", 200, &raw));
    let e = t.get("groq", "default").unwrap();
    let got: Vec<_> = e
        .windows
        .iter()
        .map(|w| (w.id.as_str(), w.remaining, w.total, w.view_only))
        .collect();
    assert_eq!(
        got,
        [
            ("requests-day", 990.0, 1000.0, false),
            ("tokens-minute", 5000.0, 6000.0, true),
        ]
    );
    assert!(e.active && e.error.is_none());
    t.tick().await;
    assert!(
        t.get("groq", "default").unwrap().error.is_none(),
        "still not polled"
    );
}
