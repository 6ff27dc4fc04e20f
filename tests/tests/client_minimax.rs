//! MiniMax music-01 against its fake: reference upload with each purpose, generation,
//! retrieval of hex audio, the reference length rule.

use mixsmith_core::client::{
    ClientError, GenerateRequest, JobOutcome, JobRequest, ProviderKind, Purpose, Reference,
};
use mixsmith_tests::fake_providers::{
    Behavior, FakeServer, Outcome, minimax as fake, run_job, test_client, write_wav,
};

const K: ProviderKind = ProviderKind::Minimax;

fn request(path: std::path::PathBuf, purpose: Purpose) -> JobRequest {
    JobRequest::Generate(GenerateRequest {
        lyrics: Some("##Stars above me##".into()),
        prompt: Some("dreamy pop".into()),
        reference: Some(Reference { path, purpose }),
        ..Default::default()
    })
}

#[test]
fn upload_generate_retrieve_for_each_purpose() {
    let server = FakeServer::start(Behavior::default(), fake::routes);
    let tc = test_client(&server, K, |_| {});
    let reference = tc.dir.path().join("ref.wav");
    write_wav(&reference, 10.5);
    for purpose in [Purpose::Song, Purpose::Voice, Purpose::Instrumental] {
        let (outcome, _) = run_job(&tc, request(reference.clone(), purpose));
        let JobOutcome::Completed { files } = outcome else {
            panic!("{purpose:?}: {outcome:?}")
        };
        assert_eq!(files.len(), 1);
        assert_eq!(
            files[0].extension().unwrap(),
            "wav",
            "sniffed from the hex audio"
        );
        mixsmith_core::audio::read_file(&files[0]).unwrap();
    }
    let bodies = server.submitted_bodies();
    // Per job: the upload record, then the generation body.
    assert_eq!(bodies[0]["upload"], "song");
    assert_eq!(bodies[1]["refer_voice"], "vocal-2025-test");
    assert_eq!(bodies[1]["refer_instrumental"], "instrumental-2025-test");
    assert_eq!(bodies[3]["refer_voice"], "vocal-2025-test");
    assert!(bodies[3].get("refer_instrumental").is_none());
    assert!(bodies[5].get("refer_voice").is_none());
    assert_eq!(bodies[5]["model"], "music-01");
    assert_eq!(bodies[5]["lyrics"], "##Stars above me##");
}

#[test]
fn short_references_are_refused_before_upload() {
    let server = FakeServer::start(Behavior::default(), fake::routes);
    let tc = test_client(&server, K, |_| {});
    let short = tc.dir.path().join("short.wav");
    write_wav(&short, 3.0);
    match tc.client.start(request(short, Purpose::Voice), &tc.out) {
        Err(ClientError::Validation { field, message, .. }) => {
            assert_eq!(field, "file");
            assert!(message.contains("10 s to 10 min"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.api_requests(), 0);
}

#[test]
fn sensitive_output_is_a_moderation_failure() {
    let server = FakeServer::start(
        Behavior {
            outcome: Outcome::Moderation,
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |_| {});
    let reference = tc.dir.path().join("ref.wav");
    write_wav(&reference, 11.0);
    match run_job(&tc, request(reference, Purpose::Song)).0 {
        JobOutcome::Failed {
            moderation,
            message,
        } => {
            assert!(moderation, "{message}");
            assert!(message.contains("new_sensitive"), "{message}");
        }
        o => panic!("{o:?}"),
    }
}
