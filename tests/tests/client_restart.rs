//! A client killed mid-job (SIGKILL of its process) and started again resumes the job from its
//! stored record and completes it, without submitting it twice.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mixsmith_core::client::{GenerateRequest, JobOutcome, JobPhase, JobRequest, ProviderKind};
use mixsmith_tests::fake_providers::{Behavior, FakeServer, TEST_KEY, files_in, suno, test_client};

const RUNNER: &str = env!("CARGO_BIN_EXE_mixsmith-client-runner");

fn song() -> JobRequest {
    JobRequest::Generate(GenerateRequest {
        lyrics: Some("[Verse]\nhold on".into()),
        style: Some("Jazz".into()),
        title: Some("Restart".into()),
        ..Default::default()
    })
}

fn record_polls(server: &FakeServer) -> usize {
    server.count("/api/v1/generate/record-info")
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn runner(args: &[&str]) -> Command {
    let mut c = Command::new(RUNNER);
    c.args(args)
        .env("MIXSMITH_SUNO_API_KEY", TEST_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn write_config(dir: &Path) -> String {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        "[suno]\nmin_interval_ms = 0\npoll_interval_ms = 10\nmax_poll_interval_ms = 20\nretry_backoff_ms = 10\n",
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn sigkill_mid_job_then_resume_completes() {
    let server = FakeServer::start(
        Behavior {
            polls_until_done: 30,
            ..Default::default()
        },
        suno::routes,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let jobs = dir.path().join("jobs");
    let out = dir.path().join("out");
    let request = dir.path().join("request.json");
    std::fs::write(&request, serde_json::to_string(&song()).unwrap()).unwrap();
    let base = server.origin();
    let s = |p: &Path| p.to_string_lossy().into_owned();

    let mut child = runner(&[
        "start",
        "suno",
        &base,
        &config,
        &s(&jobs),
        &s(&out),
        &s(&request),
    ])
    .spawn()
    .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let id = first
        .trim()
        .strip_prefix("job ")
        .expect("job id line")
        .to_string();
    wait_for("a few polls", || record_polls(&server) >= 5);
    // SAFETY: sending SIGKILL to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    assert!(!status.success(), "the client was killed");
    let polls_before = record_polls(&server);
    assert!(polls_before < 31, "killed before the task finished");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(jobs.join(format!("{id}.json"))).unwrap()).unwrap();
    assert_eq!(record["phase"], "following");
    assert!(files_in(&out).iter().all(|f| f.starts_with('.')) || files_in(&out).is_empty());

    let resumed = runner(&["resume", "suno", &base, &config, &s(&jobs), &id])
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&resumed.stdout),
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(
        server.count("/api/v1/generate"),
        record_polls(&server) + 1,
        "submitted once"
    );
    let files = files_in(&out);
    assert_eq!(files.len(), 2, "{files:?}");
    for f in files {
        mixsmith_core::audio::read_file(out.join(f)).unwrap();
    }
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(jobs.join(format!("{id}.json"))).unwrap()).unwrap();
    assert_eq!(record["phase"], "done");
}

#[test]
fn a_stopped_follower_is_resumed_by_a_new_client() {
    let server = FakeServer::start(
        Behavior {
            polls_until_done: 20,
            ..Default::default()
        },
        suno::routes,
    );
    let tc = test_client(&server, ProviderKind::Suno, |_| {});
    let handle = tc.client.start(song(), &tc.out).unwrap();
    let id = handle.id().to_string();
    wait_for("a few polls", || record_polls(&server) >= 3);
    // A job already followed is not followed twice (the record's lock).
    let twice = tc.client.resume(&id).unwrap_err();
    assert!(
        twice.to_string().contains("already being followed"),
        "{twice}"
    );
    handle.stop();
    assert_eq!(handle.wait(), JobOutcome::Stopped);
    assert_eq!(
        tc.client.store().load(&id).unwrap().phase,
        JobPhase::Following
    );
    let fresh = mixsmith_core::client::Client::new(
        &mixsmith_core::client::ProviderConfig {
            kind: ProviderKind::Suno,
            base_url: url::Url::parse(&server.origin()).unwrap(),
            api_key: mixsmith_core::client::ApiKey::new(TEST_KEY),
            tuning: mixsmith_tests::fake_providers::fast_tuning(ProviderKind::Suno),
            notices: Vec::new(),
        },
        tc.client.store().clone(),
    )
    .unwrap();
    assert_eq!(fresh.unfinished().unwrap().len(), 1);
    let outcome = fresh.resume(&id).unwrap().wait();
    assert!(
        matches!(outcome, JobOutcome::Completed { ref files } if files.len() == 2),
        "{outcome:?}"
    );
    assert_eq!(server.count("/api/v1/generate"), record_polls(&server) + 1);
}

#[test]
fn an_interrupted_submission_is_not_sent_twice() {
    let server = FakeServer::start(Behavior::default(), suno::routes);
    let tc = test_client(&server, ProviderKind::Suno, |_| {});
    let handle = tc.client.start(song(), &tc.out).unwrap();
    let id = handle.id().to_string();
    handle.wait();
    let mut record = tc.client.store().load(&id).unwrap();
    record.phase = JobPhase::Submitting;
    record.task = None;
    tc.client.store().save(&mut record).unwrap();
    let before = server.api_requests();
    match tc.client.resume(&id).unwrap().wait() {
        JobOutcome::Failed { message, .. } => assert!(message.contains("interrupted"), "{message}"),
        o => panic!("{o:?}"),
    }
    assert_eq!(server.api_requests(), before);
}
