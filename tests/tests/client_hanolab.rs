//! HanoLab against its fake: SSE progress, reconnection, fallback to polling, operations and
//! documented failures.

use mixsmith_core::client::{
    ClientError, GenerateRequest, JobEvent, JobOutcome, JobRequest, ProviderKind, hanolab,
};
use mixsmith_tests::fake_providers::{
    Behavior, Completion, FakeServer, Outcome, SseMode, files_in, hanolab as fake, run_job,
    test_client,
};

const K: ProviderKind = ProviderKind::Hanolab;

fn song() -> JobRequest {
    JobRequest::Generate(GenerateRequest {
        prompt: Some("cinematic synthwave, 120 bpm".into()),
        duration_s: Some(30.0),
        guidance: Some(7.5),
        title: Some("Night Drive".into()),
        ..Default::default()
    })
}

fn completed(outcome: &JobOutcome) -> Vec<std::path::PathBuf> {
    match outcome {
        JobOutcome::Completed { files } => files.clone(),
        other => panic!("expected completion, got {other:?}"),
    }
}

#[test]
fn sse_follows_progress_to_a_checked_file() {
    let server = FakeServer::start(
        Behavior {
            polls_until_done: 4,
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |_| {});
    let (outcome, events) = run_job(&tc, song());
    let files = completed(&outcome);
    assert_eq!(files.len(), 1);
    assert!(files[0].starts_with(&tc.out));
    assert!(
        files[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Night-Drive")
    );
    mixsmith_core::audio::read_file(&files[0]).expect("a whole decodable WAV");
    assert_eq!(server.sse_connections(), 1);
    assert_eq!(server.count("/api/v1/tasks/task-0001/progress"), 1);
    // With SSE, the only API requests are the submission and the stream (the completion
    // event carries the output URLs).
    assert_eq!(server.api_requests(), 2, "{:#?}", server.log());
    let progress: Vec<f32> = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::State { progress, .. } => *progress,
            _ => None,
        })
        .collect();
    assert!(progress.len() >= 3 && progress.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(files_in(&tc.out).len(), 1, "no temporary file left");
    let body = &server.submitted_bodies()[0];
    assert_eq!(body["prompt"], "cinematic synthwave, 120 bpm");
    assert_eq!(body["duration"], 30);
}

#[test]
fn a_broken_stream_is_resumed_and_then_polling_takes_over() {
    // Breaks twice, then works: reconnection completes the job over SSE.
    let server = FakeServer::start(
        Behavior {
            polls_until_done: 5,
            sse: SseMode::BreakAfter {
                events: 1,
                times: 2,
            },
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |t| t.sse_reconnects = 3);
    let (outcome, events) = run_job(&tc, song());
    completed(&outcome);
    assert_eq!(server.sse_connections(), 3);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, JobEvent::Note(n) if n.contains("reconnecting")))
    );
    // Always breaking: after the reconnections the client polls.
    let server = FakeServer::start(
        Behavior {
            polls_until_done: 6,
            sse: SseMode::BreakAfter {
                events: 1,
                times: 100,
            },
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |t| t.sse_reconnects = 2);
    let (outcome, events) = run_job(&tc, song());
    completed(&outcome);
    assert_eq!(
        server.sse_connections(),
        3,
        "first connection + 2 reconnections"
    );
    let polls = server
        .log()
        .iter()
        .filter(|l| l.path == "/api/v1/tasks/task-0001")
        .count();
    assert!(polls >= 1, "the job finished by polling");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, JobEvent::Note(n) if n.contains("falling back to polling")))
    );
}

#[test]
fn without_a_stream_the_client_polls() {
    let server = FakeServer::start(
        Behavior {
            polls_until_done: 3,
            sse: SseMode::Missing,
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |t| t.sse_reconnects = 0);
    let (outcome, _) = run_job(&tc, song());
    completed(&outcome);
    let polls = server
        .log()
        .iter()
        .filter(|l| l.path == "/api/v1/tasks/task-0001")
        .count();
    assert_eq!(polls, 4, "3 unfinished polls and the finished one");
}

#[test]
fn separation_downloads_every_stem() {
    let server = FakeServer::start(Behavior::default(), fake::routes);
    let tc = test_client(&server, K, |_| {});
    let op = JobRequest::Hanolab(hanolab::Operation::Separate {
        audio_url: format!("{}/files/song.wav", server.origin()),
        stems: vec!["vocals".into(), "drums".into()],
    });
    let (outcome, _) = run_job(&tc, op);
    let files = completed(&outcome);
    assert_eq!(files.len(), 2);
    let names = files_in(&tc.out);
    assert!(
        names.iter().any(|n| n.contains("vocals")) && names.iter().any(|n| n.contains("drums"))
    );
    assert_eq!(
        server.submitted_bodies()[0]["stems"],
        serde_json::json!(["vocals", "drums"])
    );
}

#[test]
fn credits_auth_and_task_failures_are_clear() {
    // 402 insufficient credits: the provider's code and message are kept.
    let server = FakeServer::start(
        Behavior {
            submit_failures: [fake::credits()].into(),
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |_| {});
    match run_job(&tc, song()).0 {
        JobOutcome::Failed { message, .. } => {
            assert!(message.contains("insufficient_credits"), "{message}");
            assert!(message.contains("not have enough credits"), "{message}");
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(server.api_requests(), 1, "a credits refusal is not retried");

    // A failed task and a moderation refusal.
    for (outcome, moderated) in [(Outcome::Failed, false), (Outcome::Moderation, true)] {
        let server = FakeServer::start(
            Behavior {
                outcome,
                ..Default::default()
            },
            fake::routes,
        );
        let tc = test_client(&server, K, |_| {});
        match run_job(&tc, song()).0 {
            JobOutcome::Failed {
                message,
                moderation,
            } => {
                assert_eq!(moderation, moderated, "{message}");
                assert!(message.contains("task-0001 failed"), "{message}");
            }
            o => panic!("{o:?}"),
        }
        assert!(files_in(&tc.out).is_empty());
    }

    // Validation happens before anything is sent.
    let server = FakeServer::start(Behavior::default(), fake::routes);
    let tc = test_client(&server, K, |_| {});
    let bad = JobRequest::Generate(GenerateRequest {
        prompt: Some("x".into()),
        negative: Some("metal".into()),
        ..Default::default()
    });
    match tc.client.start(bad, &tc.out) {
        Err(ClientError::Validation { field, .. }) => assert_eq!(field, "negative"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.api_requests(), 0);
}

/// Requests per job and completion-to-file latency, SSE against polling (printed as figures;
/// only the request counts are asserted).
#[test]
fn figures_sse_against_polling() {
    let mut requests = Vec::new();
    for sse in [SseMode::Normal, SseMode::Missing] {
        let server = FakeServer::start(
            Behavior {
                polls_until_done: 8,
                sse: sse.clone(),
                ..Default::default()
            },
            fake::routes,
        );
        let tc = test_client(&server, K, |t| {
            t.sse_reconnects = 0;
            t.poll_interval = std::time::Duration::from_millis(20);
            t.max_poll_interval = std::time::Duration::from_millis(20);
        });
        let handle = tc.client.start(song(), &tc.out).unwrap();
        let mut saved_at = None;
        for e in handle.events().iter() {
            if matches!(e, JobEvent::Saved { .. }) {
                saved_at = Some(std::time::Instant::now());
            }
        }
        completed(&handle.wait());
        let done = server.first_finished_at().unwrap();
        let latency = saved_at.unwrap().duration_since(done);
        let n = server.api_requests();
        eprintln!(
            "FIGURE hanolab {}: {n} API requests per job (+1 download), task completion to file on disk {:.1} ms",
            if sse == SseMode::Normal {
                "SSE"
            } else {
                "polling every 20 ms"
            },
            latency.as_secs_f64() * 1000.0
        );
        requests.push(n);
    }
    assert_eq!(requests[0], 2, "SSE: submit + stream");
    assert_eq!(
        requests[1],
        1 + 1 + 9,
        "polling: submit + failed stream + 9 polls"
    );
}

/// The plan's concurrency cap: with `max_concurrent = 1` the second job is submitted only after
/// the first one has finished downloading.
#[test]
fn the_concurrency_cap_holds_jobs_back() {
    let server = FakeServer::start(
        Behavior {
            polls_until_done: 3,
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |t| t.max_concurrent = 1);
    let a = tc.client.start(song(), &tc.out).unwrap();
    let b = tc.client.start(song(), &tc.out).unwrap();
    completed(&a.wait());
    completed(&b.wait());
    let log = server.log();
    let submits: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, l)| l.path == "/api/v1/music/generate")
        .map(|(i, _)| i)
        .collect();
    let first_download = log
        .iter()
        .position(|l| l.path.starts_with("/files/"))
        .unwrap();
    assert_eq!(submits.len(), 2);
    assert!(submits[1] > first_download, "{log:#?}");
}

/// The stream drops once, then its completed event names no `output_urls`.
fn bare_completion(completion: Completion) -> Behavior {
    Behavior {
        polls_until_done: 3,
        sse: SseMode::BreakAfter {
            events: 1,
            times: 1,
        },
        completion,
        ..Default::default()
    }
}

#[test]
fn a_bare_completed_event_is_followed_by_the_task_record() {
    let server = FakeServer::start(bare_completion(Completion::BareEvent), fake::routes);
    let tc = test_client(&server, K, |_| {});
    let (outcome, _) = run_job(&tc, song());
    let files = completed(&outcome);
    assert_eq!(files.len(), 1, "{:#?}", server.log());
    mixsmith_core::audio::read_file(&files[0]).expect("the audio named by the record");
    assert_eq!(server.sse_connections(), 2, "the stream was reconnected");
    assert_eq!(
        server.count("/api/v1/tasks/task-0001/progress"),
        2,
        "{:#?}",
        server.log()
    );
    // The record was read after the bare event, and only the audio was saved.
    assert!(
        server
            .log()
            .iter()
            .any(|l| l.path == "/api/v1/tasks/task-0001")
    );
    assert_eq!(
        files_in(&tc.out),
        vec![files[0].file_name().unwrap().to_string_lossy().into_owned()]
    );
}

#[test]
fn a_task_done_without_result_urls_fails_and_stays_resumable() {
    let server = FakeServer::start(bare_completion(Completion::NoUrls), fake::routes);
    let tc = test_client(&server, K, |_| {});
    let handle = tc.client.start(song(), &tc.out).unwrap();
    let id = handle.id().to_string();
    let message = match handle.wait() {
        JobOutcome::Undelivered { message } => message,
        other => panic!("expected an undelivered job, got {other:?}"),
    };
    assert!(
        message.contains("task-0001") && message.contains("names no result file"),
        "{message}"
    );
    assert!(
        server
            .log()
            .iter()
            .any(|l| l.path == "/api/v1/tasks/task-0001")
    );
    assert!(
        files_in(&tc.out).is_empty(),
        "nothing saved: {:?}",
        files_in(&tc.out)
    );
    let record = tc.client.store().load(&id).unwrap();
    assert!(!record.phase.is_terminal(), "{:?}", record.phase);
    assert_eq!(record.error.as_deref(), Some(message.as_str()));
    // Once the record names the results, resuming saves them.
    server.set_behavior(|b| b.completion = Completion::WithUrls);
    let files = completed(&tc.client.resume(&id).unwrap().wait());
    assert_eq!(files.len(), 1);
    mixsmith_core::audio::read_file(&files[0]).unwrap();
    let record = tc.client.store().load(&id).unwrap();
    assert_eq!(record.phase, mixsmith_core::client::JobPhase::Done);
    assert_eq!(record.error, None);
    assert_eq!(
        server.count("/api/v1/music/generate"),
        1,
        "not submitted again"
    );
}
