//! MusicAPI against its fake: both creation modes, the tools, the client-side rate limiter,
//! 429 with Retry-After, 5xx retries and the documented error shapes.

use std::time::Duration;

use mixsmith_core::client::{GenerateRequest, JobOutcome, JobRequest, ProviderKind, musicapi};
use mixsmith_tests::fake_providers::{
    Behavior, Failure, FakeServer, Outcome, files_in, musicapi as fake, run_job, test_client,
};

const K: ProviderKind = ProviderKind::Musicapi;

fn described() -> JobRequest {
    JobRequest::Generate(GenerateRequest {
        prompt: Some("An upbeat summer song about beach parties".into()),
        style: Some("pop, summer".into()),
        title: Some("Summer Vibes".into()),
        ..Default::default()
    })
}

fn completed(outcome: JobOutcome) -> Vec<std::path::PathBuf> {
    match outcome {
        JobOutcome::Completed { files } => files,
        other => panic!("expected completion, got {other:?}"),
    }
}

fn failed(outcome: JobOutcome) -> String {
    match outcome {
        JobOutcome::Failed { message, .. } => message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn description_and_custom_mode_download_both_clips() {
    let server = FakeServer::start(Behavior::default(), fake::routes);
    let tc = test_client(&server, K, |_| {});
    let files = completed(run_job(&tc, described()).0);
    assert_eq!(files.len(), 2, "two clips per task");
    for f in &files {
        mixsmith_core::audio::read_file(f).unwrap();
    }
    let custom = JobRequest::Generate(GenerateRequest {
        lyrics: Some("[Verse]\nYour lyrics here".into()),
        style: Some("pop, rock".into()),
        title: Some("My Song".into()),
        model: Some("sonic-v5".into()),
        ..Default::default()
    });
    completed(run_job(&tc, custom).0);
    let bodies = server.submitted_bodies();
    assert_eq!(bodies[0]["custom_mode"], false);
    assert_eq!(
        bodies[0]["gpt_description_prompt"],
        "An upbeat summer song about beach parties"
    );
    assert_eq!(bodies[1]["custom_mode"], true);
    assert_eq!(bodies[1]["prompt"], "[Verse]\nYour lyrics here");
    assert_eq!(bodies[1]["mv"], "sonic-v5");
    assert_eq!(files_in(&tc.out).len(), 4);
}

#[test]
fn tools_save_json_midi_and_stems() {
    let server = FakeServer::start(Behavior::default(), fake::routes);
    let tc = test_client(&server, K, |_| {});
    let bpm = JobRequest::Musicapi(musicapi::Operation::Bpm {
        clip_id: "c1".into(),
    });
    let files = completed(run_job(&tc, bpm).0);
    assert_eq!(files.len(), 1);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(v["bpm"], 120.0);
    assert_eq!(
        server.api_requests(),
        1,
        "an immediate answer needs no polling"
    );

    let midi = JobRequest::Musicapi(musicapi::Operation::Midi {
        clip_id: "c1".into(),
    });
    let files = completed(run_job(&tc, midi).0);
    assert!(files[0].extension().unwrap() == "mid");
    let stems = JobRequest::Musicapi(musicapi::Operation::Stems {
        clip_id: "c1".into(),
        full: false,
    });
    let files = completed(run_job(&tc, stems).0);
    assert_eq!(files.len(), 2, "vocal and instrumental");
    assert!(server.count("/api/v1/sonic/stems/basic") == 1);
    let producer = JobRequest::Musicapi(musicapi::Operation::Producer(GenerateRequest {
        prompt: Some("lofi beat".into()),
        ..Default::default()
    }));
    completed(run_job(&tc, producer).0);
    assert!(server.count("/api/v1/producer/task/") >= 1);
}

#[test]
fn the_rate_limiter_spaces_requests() {
    let server = FakeServer::start(
        Behavior {
            polls_until_done: 3,
            ..Default::default()
        },
        fake::routes,
    );
    let interval = Duration::from_millis(40);
    let tc = test_client(&server, K, |t| t.min_interval = interval);
    let start = std::time::Instant::now();
    completed(run_job(&tc, described()).0);
    let elapsed = start.elapsed();
    let sent = tc.client.http().stats().sent();
    assert_eq!(
        sent as usize,
        server.api_requests() + 2,
        "API requests and 2 downloads"
    );
    assert!(sent >= 7);
    // Sends are at least `interval` apart, so the job cannot take less than this (a lower
    // bound that holds on any machine, however loaded).
    assert!(
        elapsed >= interval * (sent as u32 - 1),
        "{sent} requests in {elapsed:?}"
    );
}

#[test]
fn a_429_storm_is_waited_out_with_retry_after() {
    let window = Duration::from_millis(600);
    let retry_after = 0.15;
    let server = FakeServer::start(
        Behavior {
            storm: Some((window, retry_after)),
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |t| t.max_retries = 10);
    let start = std::time::Instant::now();
    completed(run_job(&tc, described()).0);
    let log = server.log();
    let first = log[0].at;
    let in_storm = log
        .iter()
        .filter(|l| l.at.duration_since(first) < window)
        .count();
    let refused = log.iter().filter(|l| l.status == 429).count();
    let elapsed = start.elapsed();
    // Every refusal is followed by a wait of at least Retry-After before the next request
    // (the client's retry back-off alone would be 10 ms): a lower bound that holds however
    // loaded the machine is.
    assert!(
        refused >= 1 && refused == in_storm,
        "{refused} refused, {in_storm} in window"
    );
    assert!(
        elapsed >= Duration::from_secs_f64(retry_after * refused as f64),
        "{refused} refusals in {elapsed:?}"
    );
    assert_eq!(tc.client.http().stats().rate_limited() as usize, refused);
    eprintln!(
        "FIGURE 429 storm: {in_storm} requests in {:.1} s ({:.1}/s) with Retry-After {retry_after} s; \
         job done after {:.2} s",
        window.as_secs_f64(),
        in_storm as f64 / window.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn server_errors_are_retried_and_client_errors_are_not() {
    // 500 then success on both submission and polling.
    let server = FakeServer::start(
        Behavior {
            submit_failures: [Failure::Status(500)].into(),
            status_failures: [Failure::Status(500), Failure::RateLimited(0.02)].into(),
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |_| {});
    completed(run_job(&tc, described()).0);
    assert_eq!(server.count("/api/v1/sonic/create"), 2);

    for (failure, expect) in [
        (Failure::Status(403), "Insufficient credits"),
        (Failure::Status(401), "Invalid or missing API key"),
        (Failure::Malformed, "not JSON"),
    ] {
        let server = FakeServer::start(
            Behavior {
                submit_failures: [failure.clone()].into(),
                ..Default::default()
            },
            fake::routes,
        );
        let tc = test_client(&server, K, |_| {});
        let message = failed(run_job(&tc, described()).0);
        assert!(message.contains(expect), "{failure:?}: {message}");
        assert_eq!(server.api_requests(), 1, "{failure:?} is not retried");
    }

    // 404 on the task.
    let server = FakeServer::start(
        Behavior {
            status_failures: [Failure::Status(404)].into(),
            ..Default::default()
        },
        fake::routes,
    );
    let tc = test_client(&server, K, |_| {});
    let message = failed(run_job(&tc, described()).0);
    assert!(message.contains("not_found"), "{message}");
}

#[test]
fn failed_and_moderated_tasks_end_with_the_providers_reason() {
    for (outcome, text, moderated) in [
        (Outcome::Failed, "credits refunded", false),
        (Outcome::Moderation, "sensitive content", true),
    ] {
        let server = FakeServer::start(
            Behavior {
                outcome,
                ..Default::default()
            },
            fake::routes,
        );
        let tc = test_client(&server, K, |_| {});
        match run_job(&tc, described()).0 {
            JobOutcome::Failed {
                message,
                moderation,
            } => {
                assert!(message.contains(text), "{message}");
                assert_eq!(moderation, moderated);
            }
            o => panic!("{o:?}"),
        }
    }
}
