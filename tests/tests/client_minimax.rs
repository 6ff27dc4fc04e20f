//! MiniMax music-01 through the AI/ML API, against its fake: reference upload with each purpose,
//! generation answered with the audio (hex or URL) or with a generation id that is retrieved,
//! the reference length rule.

use mixsmith_core::client::{
    ClientError, GenerateRequest, JobOutcome, JobRequest, ProviderKind, Purpose, Reference,
};
use mixsmith_tests::fake_providers::{
    Behavior, FakeServer, GenerationAnswer, Outcome, minimax as fake, run_job, test_client,
    write_wav,
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
    // The AI/ML API's paths: upload, generate, then retrieval by generation id.
    assert_eq!(server.count("/v2/generate/audio/minimax/upload"), 3);
    assert_eq!(server.count("/v2/generate/audio/minimax/generate"), 3);
    assert!(server.count("/v2/generate/audio?generation_id=task-0002") >= 1);
    assert!(
        server.log().iter().all(|l| l.status == 200),
        "{:#?}",
        server.log()
    );
}

#[test]
fn audio_in_the_generation_answer_is_saved_without_retrieval() {
    for answer in [GenerationAnswer::InlineHex, GenerationAnswer::InlineUrl] {
        let server = FakeServer::start(
            Behavior {
                minimax_answer: answer.clone(),
                ..Default::default()
            },
            fake::routes,
        );
        let tc = test_client(&server, K, |_| {});
        let reference = tc.dir.path().join("ref.wav");
        write_wav(&reference, 10.5);
        let (outcome, _) = run_job(&tc, request(reference, Purpose::Song));
        let JobOutcome::Completed { files } = outcome else {
            panic!("{answer:?}: {outcome:?}")
        };
        assert_eq!(files.len(), 1, "{answer:?}");
        assert_eq!(files[0].extension().unwrap(), "wav", "{answer:?}");
        mixsmith_core::audio::read_file(&files[0]).unwrap();
        assert_eq!(
            server.count("/v2/generate/audio?"),
            0,
            "{answer:?}: nothing to retrieve"
        );
        let downloads = server.count("/files/");
        match answer {
            GenerationAnswer::InlineUrl => assert_eq!(downloads, 1),
            _ => assert_eq!(downloads, 0),
        }
    }
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
