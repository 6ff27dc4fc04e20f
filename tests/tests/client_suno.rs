//! Suno-style API against its fake: every documented field, record polling, body error codes.

use mixsmith_core::client::{ClientError, GenerateRequest, JobOutcome, JobRequest, ProviderKind};
use mixsmith_tests::fake_providers::{
    Behavior, Failure, FakeServer, Outcome, files_in, run_job, suno as fake, test_client,
};

const K: ProviderKind = ProviderKind::Suno;

fn custom() -> GenerateRequest {
    GenerateRequest {
        lyrics: Some("[Verse]\nStars they shine above me".into()),
        style: Some("Classical".into()),
        title: Some("Peaceful Piano".into()),
        negative: Some("Heavy Metal, Upbeat Drums".into()),
        model: Some("V5".into()),
        persona_id: Some("persona_123".into()),
        vocal_gender: Some("f".into()),
        style_weight: Some(0.65),
        weirdness: Some(0.2),
        audio_weight: Some(0.5),
        callback_url: Some("https://api.example.test/callback".into()),
        ..Default::default()
    }
}

#[test]
fn custom_mode_sends_every_field_and_saves_two_songs() {
    let server = FakeServer::start(
        Behavior {
            polls_until_done: 3,
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |_| {});
    let (outcome, _) = run_job(&tc, JobRequest::Generate(custom()));
    let JobOutcome::Completed { files } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(files.len(), 2);
    for f in &files {
        assert!(
            f.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .contains("Peaceful-Piano")
        );
        mixsmith_core::audio::read_file(f).unwrap();
    }
    let b = &server.submitted_bodies()[0];
    for (k, v) in [
        ("customMode", serde_json::json!(true)),
        ("instrumental", serde_json::json!(false)),
        ("model", serde_json::json!("V5")),
        (
            "prompt",
            serde_json::json!("[Verse]\nStars they shine above me"),
        ),
        ("style", serde_json::json!("Classical")),
        ("title", serde_json::json!("Peaceful Piano")),
        ("personaId", serde_json::json!("persona_123")),
        (
            "negativeTags",
            serde_json::json!("Heavy Metal, Upbeat Drums"),
        ),
        ("vocalGender", serde_json::json!("f")),
        ("styleWeight", serde_json::json!(0.65)),
        ("weirdnessConstraint", serde_json::json!(0.2)),
        ("audioWeight", serde_json::json!(0.5)),
        (
            "callBackUrl",
            serde_json::json!("https://api.example.test/callback"),
        ),
    ] {
        assert_eq!(b[k], v, "{k}");
    }
    assert_eq!(
        server.count("/api/v1/generate/record-info?taskId=task-0001"),
        4,
        "3 unfinished records and the finished one"
    );
}

#[test]
fn invalid_requests_are_refused_before_sending() {
    let server = FakeServer::start(Behavior::default(), fake::routes);
    let tc = test_client(&server, K, |_| {});
    let mut no_title = custom();
    no_title.title = None;
    let mut long = GenerateRequest {
        prompt: Some("x".repeat(501)),
        ..Default::default()
    };
    let mut weight = custom();
    weight.style_weight = Some(0.123);
    for (req, field) in [
        (no_title, "title"),
        (long.clone(), "prompt"),
        (weight, "styleWeight"),
    ] {
        match tc.client.start(JobRequest::Generate(req), &tc.out) {
            Err(ClientError::Validation { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    long.prompt = Some("x".repeat(500));
    assert!(
        tc.client
            .provider()
            .validate(&JobRequest::Generate(long))
            .is_ok()
    );
    assert_eq!(server.api_requests(), 0);
}

#[test]
fn body_codes_map_to_clear_errors_and_rate_limits_are_retried() {
    // 430 (call frequency) in the body is retried; then the job completes.
    let server = FakeServer::start(
        Behavior {
            submit_failures: [Failure::Status(430)].into(),
            status_failures: [Failure::Status(455)].into(),
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |_| {});
    assert!(matches!(
        run_job(&tc, JobRequest::Generate(custom())).0,
        JobOutcome::Completed { .. }
    ));
    assert_eq!(
        server.count("/api/v1/generate"),
        server.count("/api/v1/generate/") + 2
    );

    // 429 in the body means insufficient credits: not retried.
    let server = FakeServer::start(
        Behavior {
            submit_failures: [Failure::Status(429)].into(),
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |_| {});
    match run_job(&tc, JobRequest::Generate(custom())).0 {
        JobOutcome::Failed { message, .. } => assert!(message.contains("Insufficient credits")),
        o => panic!("{o:?}"),
    }
    assert_eq!(server.api_requests(), 1);
}

#[test]
fn sensitive_words_and_failed_generation() {
    for (outcome, moderated, text) in [
        (Outcome::Moderation, true, "sensitive words"),
        (Outcome::Failed, false, "Audio generation failed"),
    ] {
        let server = FakeServer::start(
            Behavior {
                outcome,
                ..Default::default()
            },
            fake::routes,
        );
        let tc = test_client(&server, K, |_| {});
        match run_job(&tc, JobRequest::Generate(custom())).0 {
            JobOutcome::Failed {
                message,
                moderation,
            } => {
                assert_eq!(moderation, moderated);
                assert!(message.contains(text), "{message}");
            }
            o => panic!("{o:?}"),
        }
        assert!(files_in(&tc.out).is_empty());
    }
}
