//! Failures of the transport and of the results: stalled servers, truncated and non-audio
//! downloads, cancellation. Every job either completes with a whole file or ends with a clear
//! error, and no partial file ever carries a final name.

use std::time::Duration;

use mixsmith_core::client::{
    GenerateRequest, JobEvent, JobOutcome, JobPhase, JobRequest, ProviderKind,
};
use mixsmith_tests::fake_providers::{
    Behavior, DownloadMode, Failure, FakeServer, files_in, hanolab, run_job, suno, test_client,
};

fn suno_song() -> JobRequest {
    JobRequest::Generate(GenerateRequest {
        prompt: Some("A calm and relaxing piano track with soft melodies".into()),
        ..Default::default()
    })
}

fn failed(outcome: JobOutcome) -> String {
    match outcome {
        JobOutcome::Failed { message, .. } => message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_stalled_server_times_out_and_a_single_stall_is_survived() {
    let server = FakeServer::start(
        Behavior {
            status_failures: std::iter::repeat_n(Failure::Stall, 50).collect(),
            ..Default::default()
        },
        suno::routes,
    );
    let tc = test_client(&server, ProviderKind::Suno, |t| {
        t.request_timeout = Duration::from_millis(150);
        t.max_retries = 1;
    });
    let message = failed(run_job(&tc, suno_song()).0);
    assert!(message.contains("timed out"), "{message}");

    let server = FakeServer::start(
        Behavior {
            status_failures: [Failure::Stall].into(),
            ..Default::default()
        },
        suno::routes,
    );
    let tc = test_client(&server, ProviderKind::Suno, |t| {
        t.request_timeout = Duration::from_millis(150)
    });
    assert!(matches!(
        run_job(&tc, suno_song()).0,
        JobOutcome::Completed { .. }
    ));
}

#[test]
fn a_stalled_progress_stream_falls_back_to_polling() {
    let server = FakeServer::start(
        Behavior {
            polls_until_done: 2,
            sse_event_gap: Duration::from_secs(3600),
            ..Default::default()
        },
        hanolab::routes,
    );
    let tc = test_client(&server, ProviderKind::Hanolab, |t| {
        t.sse_idle_timeout = Duration::from_millis(150);
        t.sse_reconnects = 1;
    });
    let job = JobRequest::Generate(GenerateRequest {
        prompt: Some("ambient".into()),
        ..Default::default()
    });
    assert!(matches!(run_job(&tc, job).0, JobOutcome::Completed { .. }));
    assert_eq!(server.sse_connections(), 2);
}

#[test]
fn truncated_downloads_are_retried_or_fail_without_a_partial_file() {
    let server = FakeServer::start(
        Behavior {
            download: DownloadMode::TruncateTimes(1),
            ..Default::default()
        },
        suno::routes,
    );
    let tc = test_client(&server, ProviderKind::Suno, |_| {});
    let (outcome, events) = run_job(&tc, suno_song());
    let JobOutcome::Completed { files } = outcome else {
        panic!("{outcome:?}")
    };
    for f in &files {
        mixsmith_core::audio::read_file(f).expect("whole file");
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, JobEvent::Note(n) if n.contains("download failed"))),
        "{events:#?} {:#?}",
        server.log()
    );
    assert_eq!(files_in(&tc.out).len(), 2, "{:?}", files_in(&tc.out));

    let server = FakeServer::start(
        Behavior {
            download: DownloadMode::TruncateTimes(1000),
            ..Default::default()
        },
        suno::routes,
    );
    let tc = test_client(&server, ProviderKind::Suno, |t| t.max_retries = 2);
    let message = failed(run_job(&tc, suno_song()).0);
    assert!(message.contains("download of"), "{message}");
    assert!(files_in(&tc.out).is_empty(), "{:?}", files_in(&tc.out));
}

#[test]
fn a_result_that_is_not_audio_is_rejected() {
    let server = FakeServer::start(
        Behavior {
            download: DownloadMode::NotAudio,
            ..Default::default()
        },
        suno::routes,
    );
    let tc = test_client(&server, ProviderKind::Suno, |t| t.max_retries = 1);
    let message = failed(run_job(&tc, suno_song()).0);
    assert!(
        message.contains("rejected") && message.contains("not audio"),
        "{message}"
    );
    assert!(files_in(&tc.out).is_empty(), "{:?}", files_in(&tc.out));
}

#[test]
fn cancel_from_the_handle_and_from_another_process() {
    let server = FakeServer::start(
        Behavior {
            polls_until_done: 100_000,
            ..Default::default()
        },
        suno::routes,
    );
    let tc = test_client(&server, ProviderKind::Suno, |_| {});
    let handle = tc.client.start(suno_song(), &tc.out).unwrap();
    let id = handle.id().to_string();
    for e in handle.events().iter() {
        if matches!(e, JobEvent::State { .. }) {
            break;
        }
    }
    handle.cancel();
    assert_eq!(handle.wait(), JobOutcome::Cancelled);
    assert_eq!(
        tc.client.store().load(&id).unwrap().phase,
        JobPhase::Cancelled
    );

    // `mixsmith jobs cancel` writes the request into the record; the follower stops.
    let handle = tc.client.start(suno_song(), &tc.out).unwrap();
    let id = handle.id().to_string();
    for e in handle.events().iter() {
        if matches!(e, JobEvent::State { .. }) {
            break;
        }
    }
    tc.client.store().request_cancel(&id).unwrap();
    assert_eq!(handle.wait(), JobOutcome::Cancelled);
    assert_eq!(
        tc.client.store().load(&id).unwrap().phase,
        JobPhase::Cancelled
    );
    assert!(files_in(&tc.out).is_empty());
}

#[test]
fn results_over_the_size_cap_are_refused() {
    let server = FakeServer::start(Behavior::default(), suno::routes);
    let tc = test_client(&server, ProviderKind::Suno, |t| {
        t.max_download_bytes = 1000;
        t.max_retries = 0;
    });
    let message = failed(run_job(&tc, suno_song()).0);
    assert!(message.contains("byte cap"), "{message}");
    assert!(files_in(&tc.out).is_empty(), "{:?}", files_in(&tc.out));
}
