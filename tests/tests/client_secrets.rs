//! The API key never reaches logs, job records, events, errors or serialized state.

use std::process::Command;

use mixsmith_core::client::{
    ClientConfig, ClientError, GenerateRequest, JobOutcome, JobRequest, ProviderKind,
};
use mixsmith_tests::fake_providers::{
    Behavior, FakeServer, TEST_KEY, hanolab, run_job, suno, test_client,
};

const RUNNER: &str = env!("CARGO_BIN_EXE_mixsmith-client-runner");

fn song() -> JobRequest {
    JobRequest::Generate(GenerateRequest {
        prompt: Some("ambient piano".into()),
        ..Default::default()
    })
}

fn assert_no_key_in_tree(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            assert_no_key_in_tree(&p);
        } else {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !bytes
                    .windows(TEST_KEY.len())
                    .any(|w| w == TEST_KEY.as_bytes()),
                "key found in {}",
                p.display()
            );
        }
    }
}

#[test]
fn no_key_in_process_output_records_or_results() {
    let server = FakeServer::start(Behavior::default(), suno::routes);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[suno]\npoll_interval_ms = 10\n").unwrap();
    let request = dir.path().join("request.json");
    std::fs::write(&request, serde_json::to_string(&song()).unwrap()).unwrap();
    let s = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    let out = Command::new(RUNNER)
        .args([
            "start",
            "suno",
            &server.origin(),
            &s(config),
            &s(dir.path().join("jobs")),
            &s(dir.path().join("out")),
            &s(request),
        ])
        .env("MIXSMITH_SUNO_API_KEY", TEST_KEY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Saved"), "{text}");
    assert!(!text.contains(TEST_KEY));
    assert!(
        server.log().iter().all(|l| l.authorized),
        "the key was sent to the provider"
    );
    assert_no_key_in_tree(dir.path());
}

#[test]
fn a_server_echoing_the_key_does_not_leak_it_into_errors() {
    let server = FakeServer::start(
        Behavior {
            echo_auth: true,
            ..Default::default()
        },
        hanolab::routes,
    );
    let tc = test_client(&server, ProviderKind::Hanolab, |_| {});
    let (outcome, events) = run_job(&tc, song());
    let JobOutcome::Failed { message, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(message.contains("Bearer ***"), "{message}");
    let all = format!("{outcome:?} {events:?}");
    assert!(!all.contains(TEST_KEY), "{all}");
    assert_no_key_in_tree(tc.dir.path());
}

#[test]
fn debug_and_serialized_state_carry_no_key() {
    let server = FakeServer::start(Behavior::default(), suno::routes);
    let tc = test_client(&server, ProviderKind::Suno, |_| {});
    let debug = format!("{:?} {:?}", tc.client, tc.client.http());
    assert!(debug.contains("ApiKey(***)"), "{debug}");
    assert!(!debug.contains(TEST_KEY));
    // What a plugin would persist: the request and the job record.
    let handle = tc.client.start(song(), &tc.out).unwrap();
    let id = handle.id().to_string();
    handle.wait();
    let record = tc.client.store().load(&id).unwrap();
    let json = serde_json::to_string(&record).unwrap() + &serde_json::to_string(&song()).unwrap();
    assert!(!json.contains(TEST_KEY));

    // A key in a config file other users can read is refused.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!("[suno]\nbase_url = \"https://x.test\"\napi_key = \"{TEST_KEY}\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = ClientConfig::load(&path)
        .unwrap()
        .provider_with_env(ProviderKind::Suno, None, |_| None)
        .unwrap_err();
    assert!(matches!(
        err,
        ClientError::ConfigFileMode { mode: 0o640, .. }
    ));
    assert!(!err.to_string().contains(TEST_KEY));
}
