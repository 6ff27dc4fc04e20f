//! Unit tests of the client module: validation, schema mapping, error mapping, SSE parsing,
//! configuration and file names. Network behaviour is tested against fake servers in `tests/`.

use std::io::Cursor;
use std::time::Duration;

use serde_json::json;

use super::*;

fn base_req() -> GenerateRequest {
    GenerateRequest::default()
}

fn field_of(e: ClientError) -> String {
    match e {
        ClientError::Validation { field, .. } => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn body(kind: ProviderKind, g: GenerateRequest) -> Result<serde_json::Value, ClientError> {
    provider_for(kind).request_body(&JobRequest::Generate(g))
}

#[test]
fn suno_custom_mode_needs_style_title_and_lyrics() {
    let mut g = base_req();
    g.lyrics = Some("[Verse] la la".into());
    assert_eq!(
        field_of(body(ProviderKind::Suno, g.clone()).unwrap_err()),
        "style"
    );
    g.style = Some("Jazz".into());
    assert_eq!(
        field_of(body(ProviderKind::Suno, g.clone()).unwrap_err()),
        "title"
    );
    g.title = Some("T".into());
    let b = body(ProviderKind::Suno, g.clone()).unwrap();
    assert_eq!(b["customMode"], json!(true));
    assert_eq!(b["prompt"], json!("[Verse] la la"));
    assert_eq!(b["model"], json!("V4_5ALL"));
    // Instrumental custom mode needs no prompt.
    let mut i = base_req();
    i.style = Some("Jazz".into());
    i.title = Some("T".into());
    i.instrumental = true;
    assert!(
        body(ProviderKind::Suno, i.clone())
            .unwrap()
            .get("prompt")
            .is_none()
    );
    i.instrumental = false;
    assert_eq!(field_of(body(ProviderKind::Suno, i).unwrap_err()), "prompt");
}

#[test]
fn suno_non_custom_prompt_limit_and_fields() {
    let mut g = base_req();
    assert_eq!(
        field_of(body(ProviderKind::Suno, g.clone()).unwrap_err()),
        "prompt"
    );
    g.prompt = Some("x".repeat(501));
    assert_eq!(
        field_of(body(ProviderKind::Suno, g.clone()).unwrap_err()),
        "prompt"
    );
    g.prompt = Some("x".repeat(500));
    let b = body(ProviderKind::Suno, g.clone()).unwrap();
    assert_eq!(b["customMode"], json!(false));
    g.persona_id = Some("p".into());
    assert_eq!(
        field_of(body(ProviderKind::Suno, g.clone()).unwrap_err()),
        "personaId"
    );
    g.persona_id = None;
    g.vocal_gender = Some("x".into());
    assert_eq!(
        field_of(body(ProviderKind::Suno, g.clone()).unwrap_err()),
        "vocalGender"
    );
    g.vocal_gender = Some("f".into());
    g.style_weight = Some(0.655);
    assert_eq!(
        field_of(body(ProviderKind::Suno, g.clone()).unwrap_err()),
        "styleWeight"
    );
    g.style_weight = Some(1.01);
    assert_eq!(
        field_of(body(ProviderKind::Suno, g.clone()).unwrap_err()),
        "styleWeight"
    );
    g.style_weight = Some(0.65);
    g.weirdness = Some(0.3);
    g.audio_weight = Some(1.0);
    g.negative = Some("Heavy Metal".into());
    g.model = Some("V5".into());
    g.callback_url = Some("https://example.test/cb".into());
    let b = body(ProviderKind::Suno, g.clone()).unwrap();
    assert_eq!(b["styleWeight"], json!(0.65));
    assert_eq!(b["weirdnessConstraint"], json!(0.3));
    assert_eq!(b["negativeTags"], json!("Heavy Metal"));
    assert_eq!(b["vocalGender"], json!("f"));
    assert_eq!(b["callBackUrl"], json!("https://example.test/cb"));
    g.callback_url = Some("http://example.test/cb".into());
    assert_eq!(
        field_of(body(ProviderKind::Suno, g.clone()).unwrap_err()),
        "callBackUrl"
    );
    g.callback_url = None;
    g.model = Some("V3".into());
    assert_eq!(
        field_of(body(ProviderKind::Suno, g.clone()).unwrap_err()),
        "model"
    );
    g.model = None;
    g.duration_s = Some(30.0);
    assert_eq!(
        field_of(body(ProviderKind::Suno, g).unwrap_err()),
        "duration"
    );
}

#[test]
fn musicapi_modes_and_model() {
    let mut g = base_req();
    g.prompt = Some("an upbeat summer song".into());
    g.style = Some("pop".into());
    let b = body(ProviderKind::Musicapi, g.clone()).unwrap();
    assert_eq!(b["custom_mode"], json!(false));
    assert_eq!(b["gpt_description_prompt"], json!("an upbeat summer song"));
    assert_eq!(b["task_type"], json!("create_music"));
    assert_eq!(b["mv"], json!("sonic-v4-5"));
    let mut c = base_req();
    c.lyrics = Some("[Verse]\nhello".into());
    c.title = Some("My Song".into());
    let b = body(ProviderKind::Musicapi, c.clone()).unwrap();
    assert_eq!(b["custom_mode"], json!(true));
    assert_eq!(b["prompt"], json!("[Verse]\nhello"));
    c.model = Some("sonic-v6".into());
    assert_eq!(
        field_of(body(ProviderKind::Musicapi, c.clone()).unwrap_err()),
        "mv"
    );
    c.model = Some("sonic-v4".into());
    c.vocal_gender = Some("m".into());
    assert_eq!(
        field_of(body(ProviderKind::Musicapi, c.clone()).unwrap_err()),
        "vocal_gender"
    );
    c.model = Some("sonic-v5".into());
    assert!(body(ProviderKind::Musicapi, c).is_ok());
    assert_eq!(
        field_of(body(ProviderKind::Musicapi, base_req()).unwrap_err()),
        "gpt_description_prompt"
    );
}

#[test]
fn musicapi_operations_map_to_their_endpoints() {
    let p = provider_for(ProviderKind::Musicapi);
    let ext = JobRequest::Musicapi(musicapi::Operation::Extend {
        clip_id: "c1".into(),
        continue_at: 30.0,
        request: base_req(),
    });
    let b = p.request_body(&ext).unwrap();
    assert_eq!(b["task_type"], json!("extend_music"));
    assert_eq!(b["continue_clip_id"], json!("c1"));
    assert_eq!(b["continue_at"], json!(30));
    let bad = JobRequest::Musicapi(musicapi::Operation::Stems {
        clip_id: " ".into(),
        full: true,
    });
    assert_eq!(field_of(p.validate(&bad).unwrap_err()), "clip_id");
    let up = JobRequest::Musicapi(musicapi::Operation::Upload {
        url: "http://example.test/a.mp3".into(),
    });
    assert_eq!(field_of(p.validate(&up).unwrap_err()), "url");
}

#[test]
fn hanolab_generate_and_operations() {
    let mut g = base_req();
    g.prompt = Some("cinematic synthwave, 120 bpm".into());
    g.duration_s = Some(30.0);
    g.guidance = Some(7.5);
    let b = body(ProviderKind::Hanolab, g.clone()).unwrap();
    assert_eq!(b["duration"], json!(30));
    assert_eq!(b["guidance"], json!(7.5));
    assert_eq!(b["seed"], json!(null));
    assert_eq!(b["lyrics"], json!(""));
    g.negative = Some("x".into());
    assert_eq!(
        field_of(body(ProviderKind::Hanolab, g.clone()).unwrap_err()),
        "negative"
    );
    g.negative = None;
    g.duration_s = Some(-1.0);
    assert_eq!(
        field_of(body(ProviderKind::Hanolab, g).unwrap_err()),
        "duration"
    );
    let p = provider_for(ProviderKind::Hanolab);
    let sep = JobRequest::Hanolab(hanolab::Operation::Separate {
        audio_url: "https://cdn.example.test/song.mp3".into(),
        stems: vec!["vocals".into(), "piano".into()],
    });
    assert_eq!(field_of(p.validate(&sep).unwrap_err()), "stems");
}

#[test]
fn minimax_needs_reference_and_lyrics() {
    let mut g = base_req();
    g.lyrics = Some("la".into());
    assert_eq!(
        field_of(body(ProviderKind::Minimax, g.clone()).unwrap_err()),
        "file"
    );
    g.reference = Some(Reference {
        path: "ref.flac".into(),
        purpose: Purpose::Voice,
    });
    assert_eq!(
        field_of(body(ProviderKind::Minimax, g.clone()).unwrap_err()),
        "file"
    );
    g.reference = Some(Reference {
        path: "ref.wav".into(),
        purpose: Purpose::Song,
    });
    let b = body(ProviderKind::Minimax, g.clone()).unwrap();
    assert_eq!(b["model"], json!("music-01"));
    assert!(b.get("refer_voice").is_some() && b.get("refer_instrumental").is_some());
    g.lyrics = None;
    assert_eq!(
        field_of(body(ProviderKind::Minimax, g).unwrap_err()),
        "lyrics"
    );
}

#[test]
fn minimax_reference_duration_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&short, spec).unwrap();
    for _ in 0..8000 * 2 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let mut g = base_req();
    g.lyrics = Some("la".into());
    g.reference = Some(Reference {
        path: short,
        purpose: Purpose::Voice,
    });
    let e = provider_for(ProviderKind::Minimax)
        .validate(&JobRequest::Generate(g))
        .unwrap_err();
    assert!(e.to_string().contains("10 s to 10 min"), "{e}");
}

#[test]
fn provider_errors_keep_code_and_message() {
    let e = hanolab::parse(
        402,
        br#"{"error":"insufficient_credits","message":"Your plan does not have enough credits.","status":402}"#,
    )
    .unwrap_err();
    match e {
        ClientError::Api {
            code,
            message,
            kind,
            status,
            ..
        } => {
            assert_eq!(code, "insufficient_credits");
            assert_eq!(message, "Your plan does not have enough credits.");
            assert_eq!(kind, ApiErrorKind::Credits);
            assert_eq!(status, 402);
        }
        other => panic!("{other:?}"),
    }
    let e = musicapi::parse(403, br#"{"type":"forbidden","error":"no credits"}"#).unwrap_err();
    assert_eq!(e.api_kind(), Some(ApiErrorKind::Credits));
    assert!(e.to_string().contains("no credits"));
    let e = suno::parse(
        200,
        br#"{"code":430,"msg":"Your call frequency is too high"}"#,
    )
    .unwrap_err();
    assert_eq!(e.api_kind(), Some(ApiErrorKind::RateLimited));
    let e = suno::parse(200, br#"{"code":429,"msg":"Insufficient credits"}"#).unwrap_err();
    assert_eq!(e.api_kind(), Some(ApiErrorKind::Credits));
    let e = minimax::parse(
        200,
        br#"{"base_resp":{"status_code":1004,"status_msg":"bad key"}}"#,
    )
    .unwrap_err();
    assert_eq!(e.api_kind(), Some(ApiErrorKind::Unauthorized));
    assert!(matches!(
        hanolab::parse(200, b"{not json"),
        Err(ClientError::Malformed { .. })
    ));
    let e = musicapi::parse(502, b"<html>bad gateway</html>").unwrap_err();
    assert_eq!(e.api_kind(), Some(ApiErrorKind::Server));
}

#[test]
fn task_states_map_to_the_common_states() {
    let st =
        suno::task_status(&json!({"code":200,"data":{"status":"SENSITIVE_WORD_ERROR"}})).unwrap();
    assert_eq!(st.state, TaskState::Failed);
    assert!(st.moderation);
    let st = suno::task_status(&json!({"code":200,"data":{"status":"FIRST_SUCCESS"}})).unwrap();
    assert_eq!(st.state, TaskState::Running);
    let st = musicapi::task_status(&json!({"code":200,"data":[
        {"clip_id":"a","state":"succeeded","audio_url":"https://x.test/a.mp3","image_url":"https://x.test/a.jpg","title":"T"},
        {"clip_id":"b","state":"running"}]}))
    .unwrap();
    assert_eq!(st.state, TaskState::Running);
    let st = musicapi::task_status(&json!({"code":200,"data":[
        {"clip_id":"a","state":"succeeded","audio_url":"https://x.test/a.mp3","image_url":"https://x.test/a.jpg","title":"T"}]}))
    .unwrap();
    assert_eq!(st.state, TaskState::Succeeded);
    assert_eq!(st.outputs.len(), 1, "images are not results");
    let st = hanolab::task_status(&json!({"status":"processing","progress":42})).unwrap();
    assert_eq!(st.progress, Some(0.42));
    assert!(hanolab::task_status(&json!({"status":"weird"})).is_err());
}

#[test]
fn sse_reader_follows_the_event_stream_rules() {
    let text = ": comment\r\nid: 1\r\nevent: progress\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nretry: 50\ndata: two\n\ndata: cut";
    let events: Vec<SseEvent> = SseReader::new(Cursor::new(text.as_bytes()))
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        events.len(),
        2,
        "an event cut off by the end is not dispatched"
    );
    assert_eq!(events[0].event, "progress");
    assert_eq!(events[0].data, "{\"a\":\n1}");
    assert_eq!(events[0].id.as_deref(), Some("1"));
    assert_eq!(events[1].event, "message");
    assert_eq!(events[1].retry_ms, Some(50));
    assert_eq!(events[1].id.as_deref(), Some("1"));
}

#[test]
fn file_names_are_sanitised() {
    assert_eq!(sanitize_file_name("../../etc/passwd"), "etc-passwd");
    assert_eq!(sanitize_file_name("My Song: Part 2?"), "My-Song-Part-2");
    assert_eq!(sanitize_file_name("..."), "output");
    assert_eq!(sanitize_file_name("CON"), "output-CON");
    assert!(sanitize_file_name(&"a".repeat(500)).len() <= 80);
}

#[test]
fn the_base_url_is_the_api_host_for_every_provider() {
    let key = |_: &str| Some("k".to_string());
    let cfg = ClientConfig::default();
    for kind in ProviderKind::ALL {
        for base in ["https://api.example.test", "https://api.example.test/"] {
            let p = cfg.provider_with_env(kind, Some(base), key).unwrap();
            assert_eq!(
                p.base_url.as_str(),
                "https://api.example.test/",
                "{kind} {base}"
            );
            assert!(p.notices.is_empty(), "{kind} {base}: {:?}", p.notices);
        }
        // A proxy path in front of the API is kept.
        let p = cfg
            .provider_with_env(kind, Some("https://proxy.example.test/music/"), key)
            .unwrap();
        assert_eq!(p.base_url.as_str(), "https://proxy.example.test/music");
    }
    for base in [
        "https://api.example.test/api/v1",
        "https://api.example.test/api/v1/",
    ] {
        let p = cfg
            .provider_with_env(ProviderKind::Suno, Some(base), key)
            .unwrap();
        assert_eq!(p.base_url.as_str(), "https://api.example.test/", "{base}");
        let [notice] = p.notices.as_slice() else {
            panic!("{base}: one notice expected, got {:?}", p.notices)
        };
        assert!(
            notice.contains("suno") && notice.contains("https://api.example.test/api/v1"),
            "{notice}"
        );
    }
}

#[test]
fn a_finished_task_that_names_no_file_does_not_deliver() {
    // Each provider's "done" without result URLs maps to a status that does not deliver.
    let suno = suno::task_status(&json!({"code":200,"data":{"status":"SUCCESS"}})).unwrap();
    assert_eq!(suno.state, TaskState::Succeeded);
    assert!(!suno.delivers(true));
    let minimax = minimax::task_status(&json!({"data":{"status":2}})).unwrap();
    assert_eq!(minimax.state, TaskState::Succeeded);
    assert!(!minimax.delivers(true));
    // HanoLab and MusicAPI keep the record as a JSON document: a result only for jobs whose
    // result is a document.
    let hanolab = hanolab::task_status(&json!({"id":"t","status":"completed"})).unwrap();
    assert_eq!(hanolab.state, TaskState::Succeeded);
    assert!(!hanolab.delivers(true));
    assert!(hanolab.delivers(false));
    let musicapi =
        musicapi::task_status(&json!({"code":200,"data":[{"clip_id":"a","state":"succeeded"}]}))
            .unwrap();
    assert_eq!(musicapi.state, TaskState::Succeeded);
    assert!(!musicapi.delivers(true));
    let with_url =
        hanolab::task_status(&json!({"status":"completed","output_urls":["https://x.test/a.wav"]}))
            .unwrap();
    assert!(with_url.delivers(true));
    // Which jobs expect a media file.
    assert!(JobRequest::Generate(base_req()).expects_media());
    let clone = hanolab::Operation::VoiceClone {
        reference_url: "https://x.test/r.wav".into(),
        name: "v".into(),
        epochs: None,
    };
    assert!(!JobRequest::Hanolab(clone).expects_media());
    let separate = hanolab::Operation::Separate {
        audio_url: "https://x.test/s.wav".into(),
        stems: vec![],
    };
    assert!(JobRequest::Hanolab(separate).expects_media());
}

#[test]
fn minimax_results_inline_as_hex_or_url_and_retrieved() {
    let hex = minimax::task_status(&json!({"data":{"status":2,"audio":"52494646"}})).unwrap();
    assert_eq!(hex.state, TaskState::Succeeded);
    assert!(matches!(&hex.outputs[0].source, task::OutputSource::Hex(h) if h == "52494646"));
    let url = minimax::task_status(&json!({"data":{"audio":"https://x.test/a.mp3"}})).unwrap();
    assert_eq!(url.state, TaskState::Succeeded);
    assert!(
        matches!(&url.outputs[0].source, task::OutputSource::Url(u) if u == "https://x.test/a.mp3")
    );
    // The AI/ML API's generic retrieval shape.
    let generic = minimax::task_status(
        &json!({"id":"g1","status":"completed","audio_file":{"url":"https://x.test/g.mp3"}}),
    )
    .unwrap();
    assert_eq!(generic.state, TaskState::Succeeded);
    assert!(generic.delivers(true));
    let pending = minimax::task_status(&json!({"id":"g1","status":"generating"})).unwrap();
    assert_eq!(pending.state, TaskState::Running);
    assert!(
        minimax::task_status(&json!({"id":"g1","status":"queued"}))
            .unwrap()
            .state
            == TaskState::Queued
    );
}

#[test]
fn config_precedence_https_and_key_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[suno]\nbase_url = \"https://file.example.test/api/v1\"\napi_key = \"file-key\"\npoll_interval_ms = 7\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = ClientConfig::load(&path).unwrap();
    let none = |_: &str| None;
    assert!(matches!(
        cfg.provider_with_env(ProviderKind::Suno, None, none),
        Err(ClientError::ConfigFileMode { .. })
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = ClientConfig::load(&path).unwrap();
    let p = cfg
        .provider_with_env(ProviderKind::Suno, None, none)
        .unwrap();
    // The old Suno form (base URL with `/api/v1`) is read as its host, with a notice.
    assert_eq!(p.base_url.as_str(), "https://file.example.test/");
    assert_eq!(p.notices.len(), 1, "{:?}", p.notices);
    assert_eq!(p.tuning.poll_interval, Duration::from_millis(7));
    assert!(
        !format!("{p:?}").contains("file-key"),
        "keys are redacted in Debug"
    );
    let env = |k: &str| match k {
        "MIXSMITH_SUNO_BASE_URL" => Some("https://env.example.test".to_string()),
        "MIXSMITH_SUNO_API_KEY" => Some("env-key".to_string()),
        _ => None,
    };
    let p = cfg
        .provider_with_env(ProviderKind::Suno, None, env)
        .unwrap();
    assert_eq!(p.base_url.host_str(), Some("env.example.test"));
    assert_eq!(p.api_key, ApiKey::new("env-key"));
    let p = cfg
        .provider_with_env(ProviderKind::Suno, Some("http://127.0.0.1:9"), env)
        .unwrap();
    assert_eq!(p.base_url.host_str(), Some("127.0.0.1"));
    assert!(matches!(
        cfg.provider_with_env(ProviderKind::Suno, Some("http://example.test"), env),
        Err(ClientError::InsecureUrl { .. })
    ));
    assert!(matches!(
        cfg.provider_with_env(ProviderKind::Hanolab, None, none),
        Err(ClientError::Config(_))
    ));
    std::fs::write(&path, "[nope]\nbase_url = \"https://x\"\n").unwrap();
    assert!(ClientConfig::load(&path).is_err());
}

#[test]
fn rate_limiter_spaces_requests_and_honours_defer() {
    let l = RateLimiter::new(Duration::from_millis(30));
    let c = CancelFlag::new();
    let t = std::time::Instant::now();
    for _ in 0..3 {
        l.acquire(&c).unwrap();
    }
    // Three acquisitions need at least two intervals.
    assert!(t.elapsed() >= Duration::from_millis(60));
    l.defer(Duration::from_secs(60));
    c.cancel();
    assert!(matches!(l.acquire(&c), Err(ClientError::Cancelled)));
}

#[test]
fn retry_after_as_seconds_or_http_date() {
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
    let mut h = HeaderMap::new();
    h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
    assert_eq!(
        super::http::parse_retry_after(&h),
        Some(Duration::from_secs(3))
    );
    let later = std::time::SystemTime::now() + Duration::from_secs(120);
    h.insert(
        RETRY_AFTER,
        HeaderValue::from_str(&httpdate::fmt_http_date(later)).unwrap(),
    );
    let d = super::http::parse_retry_after(&h).unwrap();
    assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120));
    h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    assert_eq!(super::http::parse_retry_after(&h), None);
}
