//! The `mixsmith` CLI's cloud commands against the fake providers: generate, the provider
//! operations, `jobs list | resume | cancel`, a CLI killed mid-job and resumed, and the key
//! never printed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mixsmith_tests::fake_providers::{
    Behavior, Completion, FakeServer, TEST_KEY, cli_binary, files_in, hanolab, musicapi, suno,
};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "[suno]\nmin_interval_ms = 0\npoll_interval_ms = 10\nmax_poll_interval_ms = 20\nretry_backoff_ms = 10\n\
             [musicapi]\nmin_interval_ms = 0\npoll_interval_ms = 10\nmax_poll_interval_ms = 20\nretry_backoff_ms = 10\n\
             [hanolab]\nmin_interval_ms = 0\npoll_interval_ms = 10\nmax_poll_interval_ms = 20\nretry_backoff_ms = 10\n",
        )
        .unwrap();
        Env { dir }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(cli_binary());
        c.args(args)
            .arg("--config")
            .arg(self.dir.path().join("config.toml"))
            .arg("--jobs-dir")
            .arg(self.dir.path().join("jobs"))
            .env("MIXSMITH_SUNO_API_KEY", TEST_KEY)
            .env("MIXSMITH_MUSICAPI_API_KEY", TEST_KEY)
            .env("MIXSMITH_HANOLAB_API_KEY", TEST_KEY)
            .env_remove("MIXSMITH_SUNO_BASE_URL")
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(TEST_KEY), "the key was printed: {all}");
        out
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn generate_prints_the_saved_files_and_jobs_lists_it() {
    let server = FakeServer::start(Behavior::default(), suno::routes);
    let env = Env::new();
    let lyrics = env.dir.path().join("lyrics.txt");
    std::fs::write(&lyrics, "[Verse]\nline one\n").unwrap();
    let base = server.origin();
    let out = env.run(&[
        "generate",
        "--provider",
        "suno",
        "--lyrics",
        &s(&lyrics),
        "--style",
        "Jazz",
        "--title",
        "CLI Song",
        "--negative",
        "metal",
        "--base-url",
        &base,
        "--verbose",
        "-o",
        &s(&env.out()),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(printed.len(), 2, "{}", text(&out));
    for p in &printed {
        mixsmith_core::audio::read_file(p).unwrap();
    }
    assert_eq!(server.submitted_bodies()[0]["prompt"], "[Verse]\nline one");
    let list = env.run(&["jobs", "list"]);
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(
        listing.contains("done") && listing.contains("CLI Song"),
        "{listing}"
    );
}

#[test]
fn invalid_requests_exit_1_naming_the_field_and_send_nothing() {
    let server = FakeServer::start(Behavior::default(), suno::routes);
    let env = Env::new();
    let out = env.run(&[
        "generate",
        "-p",
        "suno",
        "--style",
        "Jazz",
        "--base-url",
        &server.origin(),
        "-o",
        &s(&env.out()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("invalid field `title`"),
        "{}",
        text(&out)
    );
    assert_eq!(server.api_requests(), 0);
    // Plain HTTP to a non-loopback host is refused.
    let out = env.run(&[
        "generate",
        "-p",
        "suno",
        "--prompt",
        "x",
        "--base-url",
        "http://example.test/api/v1",
        "-o",
        &s(&env.out()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("only https://"), "{}", text(&out));
}

#[test]
fn musicapi_operations_as_subcommands() {
    let server = FakeServer::start(Behavior::default(), musicapi::routes);
    let env = Env::new();
    let out = env.run(&[
        "musicapi",
        "bpm",
        "--clip-id",
        "c1",
        "--base-url",
        &server.origin(),
        "-o",
        &s(&env.out()),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(files_in(&env.out()).len(), 1);
    let out = env.run(&[
        "musicapi",
        "extend",
        "--clip-id",
        "c1",
        "--continue-at",
        "30",
        "--style",
        "rock",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["task_type"], "extend_music");
    assert_eq!(body["continue_at"], 30);
}

#[test]
fn a_killed_cli_job_is_resumed_by_jobs_resume() {
    let server = FakeServer::start(
        Behavior {
            polls_until_done: 40,
            ..Default::default()
        },
        suno::routes,
    );
    let env = Env::new();
    let base = server.origin();
    let mut child = env
        .cmd(&[
            "generate",
            "-p",
            "suno",
            "--prompt",
            "calm piano",
            "--base-url",
            &base,
            "-o",
            &s(&env.out()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let id = line
        .split_whitespace()
        .nth(1)
        .expect("`job <id> started` line")
        .to_string();
    let end = Instant::now() + Duration::from_secs(20);
    while server.count("/api/v1/generate/record-info") < 5 {
        assert!(Instant::now() < end, "no polls");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: SIGKILL to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert!(server.count("/api/v1/generate/record-info") < 41);

    // Cancel refuses nothing here; list shows the job still following.
    let list = env.run(&["jobs", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("following"));
    let out = env.run(&["jobs", "resume", &id, "--base-url", &base]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    assert_eq!(
        server.count("/api/v1/generate") - server.count("/api/v1/generate/"),
        1
    );

    // A finished job cannot be cancelled or resumed again.
    let out = env.run(&["jobs", "cancel", &id]);
    assert!(text(&out).contains("already ended"), "{}", text(&out));
    let out = env.run(&["jobs", "resume", &id]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_suno_base_url_is_the_host_and_the_old_form_works_with_a_notice() {
    let server = FakeServer::start(Behavior::default(), suno::routes);
    let env = Env::new();
    let out_dir = s(&env.out());
    let generate = |base: &str| {
        let out = env
            .cmd(&[
                "generate",
                "-p",
                "suno",
                "--prompt",
                "calm piano",
                "-o",
                &out_dir,
            ])
            .env("MIXSMITH_SUNO_BASE_URL", base)
            .output()
            .unwrap();
        assert!(out.status.success(), "{base}: {}", text(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            2,
            "{base}: {}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for host in [server.origin(), format!("{}/", server.origin())] {
        let stderr = generate(&host);
        assert!(!stderr.contains("note:"), "{host}: {stderr}");
    }
    for old in [
        format!("{}/api/v1", server.origin()),
        format!("{}/api/v1/", server.origin()),
    ] {
        let stderr = generate(&old);
        assert!(
            stderr.contains("note: suno: the base URL is the API host")
                && stderr.contains(&format!("`{}/api/v1`", server.origin())),
            "{old}: {stderr}"
        );
    }
    // Every request went to the documented paths.
    assert_eq!(
        server.count("/api/v1/generate") - server.count("/api/v1/generate/"),
        4
    );
    assert!(
        server
            .log()
            .iter()
            .all(|l| l.path.starts_with("/api/v1/generate") || l.path.starts_with("/files/")),
        "{:#?}",
        server.log()
    );
}

#[test]
fn a_generation_done_without_results_exits_1_and_stays_resumable() {
    let server = FakeServer::start(
        Behavior {
            completion: Completion::NoUrls,
            ..Default::default()
        },
        hanolab::routes,
    );
    let env = Env::new();
    let base = server.origin();
    let args = [
        "generate",
        "-p",
        "hanolab",
        "--prompt",
        "synthwave",
        "--base-url",
        &base,
        "-o",
        &s(&env.out()),
    ];
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("names no result file") && stderr.contains("mixsmith jobs resume"),
        "{stderr}"
    );
    assert!(
        files_in(&env.out()).is_empty(),
        "{:?}",
        files_in(&env.out())
    );
    let list = env.run(&["jobs", "list"]);
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(
        listing.contains("downloading") && listing.contains("names no result file"),
        "{listing}"
    );
    // When the record names the result, `jobs resume` saves it.
    server.set_behavior(|b| b.completion = Completion::WithUrls);
    let out = env.run(&["jobs", "resume", "--base-url", &base]);
    assert!(out.status.success(), "{}", text(&out));
    let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(printed.len(), 1, "{}", text(&out));
    mixsmith_core::audio::read_file(&printed[0]).unwrap();
    assert_eq!(server.count("/api/v1/music/generate"), 1);
}
