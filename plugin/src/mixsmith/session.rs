//! The plugin's own versioned session state, stored in the host's project beside the parameters.
//!
//! nice-plug stores it as a JSON string under `fields.session`. [`migrate_stored`] runs from
//! `Plugin::filter_state` before anything is loaded: it brings older versions up to date and
//! replaces a session that cannot be read by the defaults plus a visible [`Session::notice`], so a
//! damaged project still opens.

use mixsmith_core::master::{MatchProfile, MatchSettings};
use serde::{Deserialize, Serialize};

/// The version written by this build. Version 2 replaced the Master settings' opt-in
/// `loudness_priority` by the opt-out `gentle_limiting` (the loudness match became the default).
pub const SESSION_VERSION: u32 = 2;

/// The key of the session under the plugin state's `fields`.
pub const SESSION_FIELD: &str = "session";

/// The editor tabs. A tab appears only once its tool exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tab {
    /// Engine state: latency, worker load, underruns.
    #[default]
    Engine,
    /// The loudness meter.
    Analyze,
    /// Reference mastering.
    Master,
    /// Cloud generation (client mode).
    Generate,
}

/// What the Generate tab remembers: the last request's fields and the output folder. No API key
/// is ever stored here: keys come from the environment or the user's config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateSession {
    /// Provider id (`hanolab`, `musicapi`, `suno`, `minimax`).
    pub provider: String,
    /// Description prompt.
    pub prompt: String,
    /// Lyrics.
    pub lyrics: String,
    /// Style tags.
    pub style: String,
    /// Tags to avoid.
    pub negative: String,
    /// Song title (Suno custom mode).
    pub title: String,
    /// No vocals.
    pub instrumental: bool,
    /// Length in seconds, 0 for the provider's default.
    pub duration_s: f32,
    /// Provider model name, empty for the provider's default.
    pub model: String,
    /// Where finished clips are saved.
    pub output_dir: String,
}

impl Default for GenerateSession {
    fn default() -> Self {
        Self {
            provider: "suno".to_owned(),
            prompt: String::new(),
            lyrics: String::new(),
            style: String::new(),
            negative: String::new(),
            title: String::new(),
            instrumental: false,
            duration_s: 0.0,
            model: String::new(),
            output_dir: default_output_dir(),
        }
    }
}

/// `~/Music/Mixsmith` (the user's audio folder), or the data folder where there is none.
fn default_output_dir() -> String {
    dirs::audio_dir()
        .or_else(dirs::data_dir)
        .map(|dir| dir.join("Mixsmith").display().to_string())
        .unwrap_or_else(|| "Mixsmith".to_owned())
}

/// What the Master tab remembers: the reference, the settings and the learned match, so a
/// reopened project sounds the same without learning again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MasterSession {
    /// Path of the reference file.
    pub reference: String,
    /// Path of a target file to learn from instead of capturing the host's playback.
    pub target_file: String,
    /// Amount, smoothing, ceiling, limiter.
    pub settings: MatchSettings,
    /// The learned match.
    pub profile: Option<MatchProfile>,
}

/// The loudness a producer is aiming for, shown against the integrated loudness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoudnessTarget {
    /// Streaming services: -14 LUFS.
    #[default]
    Streaming,
    /// EBU R128 broadcast: -23 LUFS.
    Broadcast,
}

impl LoudnessTarget {
    /// Every target, in display order.
    pub const ALL: [Self; 2] = [Self::Streaming, Self::Broadcast];

    /// The target loudness in LUFS.
    pub fn lufs(self) -> f64 {
        match self {
            Self::Streaming => -14.0,
            Self::Broadcast => -23.0,
        }
    }

    /// A label for the GUI.
    pub fn label(self) -> &'static str {
        match self {
            Self::Streaming => "Streaming (-14 LUFS)",
            Self::Broadcast => "Broadcast (-23 LUFS)",
        }
    }
}

/// Everything the plugin remembers besides its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Schema version; see [`SESSION_VERSION`].
    pub version: u32,
    /// The editor tab that was open.
    pub tab: Tab,
    /// The loudness target of the Analyze tab.
    #[serde(default)]
    pub loudness_target: LoudnessTarget,
    /// The Master tab's reference, settings and match.
    #[serde(default)]
    pub master: MasterSession,
    /// The Generate tab's last request.
    #[serde(default)]
    pub generate: GenerateSession,
    /// A message for the user about the last state load (e.g. the saved state was damaged), shown
    /// in the editor until dismissed.
    pub notice: Option<String>,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            version: SESSION_VERSION,
            tab: Tab::default(),
            loudness_target: LoudnessTarget::default(),
            master: MasterSession::default(),
            generate: GenerateSession::default(),
            notice: None,
        }
    }
}

/// Version 0: written before the session was versioned. Only the tab existed.
#[derive(Deserialize)]
struct SessionV0 {
    tab: Tab,
}

/// Reads a stored session of any known version. Unreadable input gives the defaults with a
/// notice explaining what happened; this never fails.
pub fn migrate_stored(stored: &str) -> Session {
    match read_versioned(stored) {
        Ok(session) => session,
        Err(problem) => Session {
            notice: Some(format!(
                "The saved Mixsmith session could not be read ({problem}); defaults were restored."
            )),
            ..Session::default()
        },
    }
}

fn read_versioned(stored: &str) -> Result<Session, String> {
    let value: serde_json::Value = serde_json::from_str(stored).map_err(|e| e.to_string())?;
    match value.get("version").map(serde_json::Value::as_u64) {
        None => {
            let old: SessionV0 = serde_json::from_value(value).map_err(|e| e.to_string())?;
            Ok(Session {
                tab: old.tab,
                ..Session::default()
            })
        }
        Some(Some(1)) => Ok(migrate_v1(value)?),
        Some(Some(version)) if version == u64::from(SESSION_VERSION) => {
            serde_json::from_value(value).map_err(|e| e.to_string())
        }
        Some(Some(version)) => Err(format!(
            "it was written by a newer Mixsmith (session version {version}, this one reads up to {SESSION_VERSION})"
        )),
        Some(None) => Err("its version is not a number".to_owned()),
    }
}

/// Version 1 matched the reference's loudness only with `loudness_priority` on. A session
/// whose match was learned without it keeps sounding as it did: it opens with gentle limiting
/// (its match holds no limiter compensation), with a notice saying how to get the loudness
/// match. Sessions without a match take the new default.
fn migrate_v1(mut value: serde_json::Value) -> Result<Session, String> {
    let master = &mut value["master"];
    let learned = master.get("profile").is_some_and(|p| !p.is_null());
    let settings = &mut master["settings"];
    let priority = settings
        .get("loudness_priority")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let gentle = learned && !priority;
    if settings.is_object() || settings.is_null() {
        settings["gentle_limiting"] = serde_json::Value::Bool(gentle);
    }
    value["version"] = SESSION_VERSION.into();
    let mut session: Session = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if gentle && session.notice.is_none() {
        session.notice = Some(
            "This project's match was learned with gentle limiting, which may leave the master \
             quieter than the reference; it still sounds as before. To match the reference's \
             loudness, untick Gentle limiting on the Master tab and Learn again."
                .to_owned(),
        );
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_version_round_trips() {
        let session = Session {
            tab: Tab::Analyze,
            loudness_target: LoudnessTarget::Broadcast,
            notice: Some("hello".into()),
            ..Session::default()
        };
        let stored = serde_json::to_string(&session).unwrap();
        assert_eq!(migrate_stored(&stored), session);
    }

    #[test]
    fn the_stored_session_has_no_place_for_secrets() {
        let mut session = Session::default();
        session.generate.prompt = "a calm piano piece".into();
        let json: serde_json::Value = serde_json::to_value(&session).unwrap();
        let mut keys = Vec::new();
        collect_keys(&json, &mut keys);
        for key in keys {
            let key = key.to_ascii_lowercase();
            assert!(
                !["key", "token", "secret", "password", "auth"]
                    .iter()
                    .any(|word| key.contains(word)),
                "session field `{key}` could hold a credential"
            );
        }
    }

    fn collect_keys(value: &serde_json::Value, keys: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    keys.push(key.clone());
                    collect_keys(value, keys);
                }
            }
            serde_json::Value::Array(items) => {
                items.iter().for_each(|item| collect_keys(item, keys));
            }
            _ => {}
        }
    }

    #[test]
    fn version_one_keeps_a_learned_gentle_match_gentle_and_takes_the_new_default_otherwise() {
        let learned = serde_json::to_value(crate::mixsmith::tools::tests::learned().0).unwrap();
        let v1 = |priority: bool, profile: &serde_json::Value| {
            serde_json::json!({
                "version": 1,
                "tab": "Master",
                "master": {
                    "reference": "ref.wav",
                    "settings": { "amount": 0.5, "loudness_priority": priority },
                    "profile": profile,
                },
                "notice": null,
            })
            .to_string()
        };
        let old_gentle = migrate_stored(&v1(false, &learned));
        assert_eq!(old_gentle.version, SESSION_VERSION);
        assert!(old_gentle.master.settings.gentle_limiting);
        assert_eq!(old_gentle.master.settings.amount, 0.5);
        assert!(old_gentle.master.profile.is_some());
        assert!(old_gentle.notice.unwrap().contains("Gentle limiting"));
        let old_priority = migrate_stored(&v1(true, &learned));
        assert!(!old_priority.master.settings.gentle_limiting);
        assert_eq!(old_priority.notice, None);
        let nothing_learned = migrate_stored(&v1(false, &serde_json::Value::Null));
        assert!(!nothing_learned.master.settings.gentle_limiting);
        assert_eq!(nothing_learned.notice, None);
    }

    #[test]
    fn version_zero_migrates_keeping_the_tab() {
        let session = migrate_stored(r#"{"tab":"Engine"}"#);
        assert_eq!(session.version, SESSION_VERSION);
        assert_eq!(session.tab, Tab::Engine);
        assert_eq!(session.notice, None);
    }

    #[test]
    fn unreadable_sessions_fall_back_to_defaults_with_a_notice() {
        for stored in [
            "{not json",
            r#"{"version":99}"#,
            r#"{"version":"x"}"#,
            r#"{"tab":7}"#,
        ] {
            let session = migrate_stored(stored);
            assert_eq!(session.tab, Tab::default(), "{stored}");
            let notice = session.notice.expect(stored);
            assert!(notice.contains("could not be read"), "{notice}");
        }
    }
}
