//! Master mode end to end, for CLAP and VST3: a match learned in the test with
//! `mixsmith_core::master::learn` is put into the plugin state's session, the state is loaded,
//! `mode` is set to Master by an event, and the plugin's output is compared with the CLI's
//! `mixsmith_core::master::render` of the same input.
//!
//! Every scenario runs under the debug bundle's allocation checker (see [`crate::isolate`]).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use mixsmith_core::master::{
    BufferSource, Mastering, MatchProfile, MatchSettings, learn, render, render_chunk_frames,
};
use serde_json::Value;

use crate::harness::{Change, Param, TOLERANCE, TestHost, figure};
use crate::signal::{self, Planar, Rng};
use crate::state;

/// Opens a fresh stereo instance at a sample rate and maximum block, loading the state (if
/// any) before activation, as a host opening a project does.
pub type Open<'a> = &'a dyn Fn(f64, usize, Option<&[u8]>) -> Result<Box<dyn TestHost>>;

/// The largest allowed peak error of the plugin against the CLI render, in dB relative to the
/// render's peak.
pub const MAX_ERROR_DB: f64 = -90.0;

/// Seconds of target and reference the match is learned from.
const LEARN_SECONDS: f64 = 6.0;
/// Seconds of audio processed through the plugin.
const PROCESS_SECONDS: f64 = 1.5;

/// Stereo noise through a one-pole low-pass: `dark` of the low-passed part plus `bright` of the
/// white part, the right channel `width` times the left's low-passed part plus its own white
/// noise, all times `level`.
fn shaped_noise(
    frames: usize,
    seed: u64,
    dark: f32,
    bright: f32,
    width: f32,
    level: f32,
) -> Planar {
    let mut rng = Rng::new(seed);
    let (mut lp_left, mut lp_right) = (0.0_f32, 0.0_f32);
    let mut left = Vec::with_capacity(frames);
    let mut right = Vec::with_capacity(frames);
    for _ in 0..frames {
        let (white_left, white_right) = (rng.sample(), rng.sample());
        lp_left = 0.95 * lp_left + 0.05 * white_left;
        lp_right = 0.95 * lp_right + 0.05 * white_right;
        let common = lp_left;
        left.push(level * (dark * common + bright * white_left));
        right.push(
            level * (dark * (width * common + (1.0 - width) * lp_right) + bright * white_right),
        );
    }
    vec![left, right]
}

/// The mix to master: dark, fairly narrow, quiet.
fn target_like(frames: usize, seed: u64) -> Planar {
    shaped_noise(frames, seed, 1.0, 0.02, 0.9, 0.5)
}

/// A match learned at one sample rate, the input to process and the CLI's render of it.
pub struct MasterFixture {
    /// The sample rate everything is at.
    pub sample_rate: u32,
    /// The learned match.
    pub profile: MatchProfile,
    /// The settings the plugin's session holds (the defaults).
    pub settings: MatchSettings,
    /// The audio fed to the plugin (target-like noise, not the learned target itself).
    pub input: Planar,
    /// `mixsmith_core::master::render` of `input`: aligned with it, exactly as long.
    pub rendered: Planar,
}

impl MasterFixture {
    /// Learns a match at `sample_rate` (target: dark, narrow, quiet noise; reference: brighter,
    /// wider and louder noise) and renders the input with it the way the CLI does.
    pub fn new(sample_rate: u32) -> Result<Self> {
        let rate = sample_rate as usize;
        let learn_frames = (LEARN_SECONDS * rate as f64) as usize;
        let target = target_like(learn_frames, 1);
        let reference = shaped_noise(learn_frames, 2, 0.6, 0.25, 0.3, 0.9);
        let settings = MatchSettings::default();
        let profile = learn(
            &mut BufferSource::new("target", sample_rate, &target),
            &mut BufferSource::new("reference", sample_rate, &reference),
            &settings,
            &mut |_| {},
        )
        .context("learning the match")?;
        let input = target_like((PROCESS_SECONDS * rate as f64) as usize, 3);
        let rendered = cli_render(&profile, &settings, sample_rate, &input)?;
        Ok(Self {
            sample_rate,
            profile,
            settings,
            input,
            rendered,
        })
    }

    /// The loudness gain the match applies, in dB.
    pub fn gain_db(&self) -> Result<f64> {
        let master = Mastering::new(&self.profile, &self.settings, self.sample_rate, 2, 512)?;
        Ok(master.gain_db())
    }
}

/// `mixsmith_core::master::render` of `input`, collected.
pub fn cli_render(
    profile: &MatchProfile,
    settings: &MatchSettings,
    sample_rate: u32,
    input: &Planar,
) -> Result<Planar> {
    let mut rendered: Planar = vec![Vec::new(); input.len()];
    render(
        profile,
        settings,
        &mut BufferSource::new("input", sample_rate, input),
        render_chunk_frames(sample_rate),
        &mut |block: &[Vec<f32>]| {
            for (out, channel) in rendered.iter_mut().zip(block) {
                out.extend_from_slice(channel);
            }
            Ok(())
        },
        &mut |_| {},
    )
    .context("rendering with mixsmith_core::master::render")?;
    Ok(rendered)
}

/// A state blob of the plugin's defaults, from a throw-away instance.
pub fn default_state(open: Open<'_>, sample_rate: f64) -> Result<Value> {
    let mut host = open(sample_rate, 512, None)?;
    state::parse(&host.save_state()?)
}

/// `state` with `session.master.profile` replaced by `profile` (settings kept as they are).
/// Returns the new state and the settings the session holds.
pub fn with_profile(state: &Value, profile: &Value) -> Result<(Value, MatchSettings)> {
    let mut state = state.clone();
    let mut session = state::session(&state)?;
    let shown = session.to_string();
    let master = session
        .get_mut("master")
        .and_then(Value::as_object_mut)
        .with_context(|| format!("the session has no master object: {shown}"))?;
    master.insert("profile".to_owned(), profile.clone());
    let settings: MatchSettings = serde_json::from_value(
        master
            .get("settings")
            .cloned()
            .with_context(|| format!("session.master has no settings: {shown}"))?,
    )
    .context("session.master.settings is not a MatchSettings")?;
    state::set_session_raw(&mut state, &serde_json::to_string(&session)?)?;
    Ok((state, settings))
}

/// The fixture's profile in the default state, as bytes, checking that the session's settings
/// are the ones the fixture rendered with.
fn profile_state(open: Open<'_>, fixture: &MasterFixture) -> Result<Vec<u8>> {
    let defaults = default_state(open, f64::from(fixture.sample_rate))?;
    let (state, settings) = with_profile(&defaults, &serde_json::to_value(&fixture.profile)?)?;
    ensure!(
        settings == fixture.settings,
        "the session's default settings {settings:?} are not MatchSettings::default()"
    );
    state::to_bytes(&state)
}

/// `input` followed by `latency` frames of silence, so the whole render comes out.
fn padded(input: &Planar, latency: usize) -> Planar {
    signal::pad(input.clone(), latency)
}

/// The output frames `latency..latency + n`: the plugin's output aligned with its input.
fn aligned(output: &Planar, latency: usize, frames: usize) -> Planar {
    output
        .iter()
        .map(|c| c[latency..latency + frames].to_vec())
        .collect()
}

/// The peak of all channels.
fn peak(audio: &Planar) -> f32 {
    audio.iter().flatten().fold(0.0_f32, |p, x| p.max(x.abs()))
}

/// Peak difference between `actual` and `expected` in dB relative to `expected`'s peak (NaN
/// counts as a huge error), with the frame and channel of the largest difference.
pub fn error_db(actual: &Planar, expected: &Planar) -> (f64, usize, usize) {
    let mut worst = (0.0_f32, 0, 0);
    for (channel, (a, e)) in actual.iter().zip(expected).enumerate() {
        for (frame, (a, e)) in a.iter().zip(e).enumerate() {
            let difference = if a.is_finite() {
                (a - e).abs()
            } else {
                f32::INFINITY
            };
            if difference > worst.0 {
                worst = (difference, frame, channel);
            }
        }
    }
    let db = 20.0 * (f64::from(worst.0) / f64::from(peak(expected)).max(1e-30)).log10();
    (db, worst.1, worst.2)
}

/// What one output block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The processed signal (the CLI's render, delayed by the latency).
    Processed,
    /// The dry input delayed by the latency.
    Dry,
    /// Neither.
    Neither,
}

/// One output stretch's classification.
#[derive(Debug, Clone, Copy)]
struct BlockKind {
    start: usize,
    end: usize,
    kind: Kind,
}

/// The two signals a Master-mode output block may be: the CLI's render and the dry input, both
/// delayed by the latency, on the plugin output's time line.
struct Expected {
    processed: Planar,
    dry: Planar,
    /// The largest difference that still counts as processed.
    allowed: f32,
}

impl Expected {
    fn new(fixture: &MasterFixture, latency: usize) -> Self {
        let delayed = |audio: &Planar| -> Planar {
            audio
                .iter()
                .map(|c| {
                    let mut full = vec![0.0; latency];
                    full.extend_from_slice(c);
                    full
                })
                .collect()
        };
        Self {
            processed: delayed(&fixture.rendered),
            dry: delayed(&fixture.input),
            allowed: peak(&fixture.rendered) * 10f32.powf(MAX_ERROR_DB as f32 / 20.0),
        }
    }

    /// The kind of output frame `t` (all channels).
    fn frame_kind(&self, output: &Planar, t: usize) -> Kind {
        let close = |expected: &Planar, tolerance: f32| {
            output
                .iter()
                .zip(expected)
                .all(|(o, e)| (o[t] - e[t]).abs() <= tolerance)
        };
        if close(&self.processed, self.allowed) {
            Kind::Processed
        } else if close(&self.dry, TOLERANCE) {
            Kind::Dry
        } else {
            Kind::Neither
        }
    }
}

/// Classifies every `block`-frame stretch of the plugin's whole output (the input padded by the
/// latency went in) as processed, dry or neither. Before the latency both are silence, which
/// counts as processed.
fn classify_blocks(
    output: &Planar,
    fixture: &MasterFixture,
    latency: usize,
    block: usize,
) -> Vec<BlockKind> {
    let expected = Expected::new(fixture, latency);
    let len = output[0].len().min(expected.processed[0].len());
    (0..len)
        .step_by(block)
        .map(|start| {
            let end = (start + block).min(len);
            let max_diff = |expected: &Planar| {
                output
                    .iter()
                    .zip(expected)
                    .flat_map(|(o, e)| o[start..end].iter().zip(&e[start..end]))
                    .fold(0.0_f32, |m, (o, e)| {
                        if o.is_finite() {
                            m.max((o - e).abs())
                        } else {
                            f32::INFINITY
                        }
                    })
            };
            let (to_processed, to_dry) = (max_diff(&expected.processed), max_diff(&expected.dry));
            let kind = if to_processed <= expected.allowed {
                Kind::Processed
            } else if to_dry <= TOLERANCE {
                Kind::Dry
            } else {
                Kind::Neither
            };
            BlockKind { start, end, kind }
        })
        .collect()
}

/// Runs of frame kinds in `range`, e.g. "8192..8400 Dry, 8400..8704 Neither".
fn describe_frames(
    output: &Planar,
    fixture: &MasterFixture,
    latency: usize,
    range: std::ops::Range<usize>,
) -> String {
    let expected = Expected::new(fixture, latency);
    let kinds: Vec<BlockKind> = range
        .map(|t| BlockKind {
            start: t,
            end: t + 1,
            kind: expected.frame_kind(output, t),
        })
        .collect();
    describe(&kinds)
}

/// Runs of equal kinds, e.g. "0..5120 Processed, 5120..9216 Dry".
fn describe(kinds: &[BlockKind]) -> String {
    let mut runs: Vec<(usize, usize, Kind)> = Vec::new();
    for k in kinds {
        match runs.last_mut() {
            Some(run) if run.2 == k.kind => run.1 = k.end,
            _ => runs.push((k.start, k.end, k.kind)),
        }
    }
    runs.iter()
        .map(|(start, end, kind)| format!("{start}..{end} {kind:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that the aligned output equals the CLI's render within [`MAX_ERROR_DB`] and is far
/// from the dry input (so the match really ran).
fn check_mastered(
    full: &Planar,
    latency: usize,
    fixture: &MasterFixture,
    what: &str,
) -> Result<f64> {
    let output = &aligned(full, latency, fixture.input[0].len());
    ensure!(
        output.iter().flatten().all(|x| x.is_finite()),
        "{what}: the output holds NaN or infinite samples"
    );
    let (db, frame, channel) = error_db(output, &fixture.rendered);
    let kinds = classify_blocks(full, fixture, latency, 512);
    let all_dry = kinds
        .iter()
        .filter(|k| k.start >= latency)
        .all(|k| k.kind == Kind::Dry);
    let hint = if all_dry {
        " (every block is the dry signal: the plugin's bridge fell back to dry throughout, as it \
         does in realtime mode when its worker is behind; offline, the plugin should wait for \
         its worker, so check that the plugin really runs in offline mode)"
    } else {
        ""
    };
    ensure!(
        db < MAX_ERROR_DB,
        "{what}: the plugin's output differs from mixsmith_core::master::render by {db:.1} dB \
         (peak error relative to peak level; allowed {MAX_ERROR_DB} dB); worst at frame {frame} \
         channel {channel}: plugin {}, render {}; output blocks of 512: {}{hint}",
        output[channel][frame],
        fixture.rendered[channel][frame],
        describe(&kinds)
    );
    let (dry_db, ..) = error_db(output, &fixture.input);
    ensure!(
        dry_db > -20.0,
        "{what}: the output is within {dry_db:.1} dB of the dry input: Master mode did not process"
    );
    Ok(db)
}

/// The Master mode change at the first frame.
fn master_on() -> Change {
    Change {
        frame: 0,
        param: Param::Master(true),
    }
}

/// The first place where two JSON values differ (numbers: by more than 1e-12 relative), if any.
pub fn json_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64()?, y.as_f64()?);
            let close = (x - y).abs() <= 1e-12 * x.abs().max(y.abs());
            (!close).then(|| format!("{path}: {x} vs {y}"))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: {} vs {} elements", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (x, y))| json_difference(x, y, &format!("{path}[{i}]")))
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter()
                .find_map(|key| match (x.get(key), y.get(key)) {
                    (Some(x), Some(y)) => json_difference(x, y, &format!("{path}.{key}")),
                    _ => Some(format!("{path}.{key}: present on one side only")),
                })
        }
        _ => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

/// Offline: at 44.1 and 48 kHz, with blocks of 64, of 512 and of random length up to 512, a
/// fresh instance loaded with the match and switched to Master renders exactly what the CLI
/// renders.
pub fn offline_equals_cli_render(open: Open<'_>) -> Result<()> {
    for rate in [44_100u32, 48_000] {
        let fixture = MasterFixture::new(rate)?;
        let blob = profile_state(open, &fixture)?;
        type Plan = (&'static str, usize, fn(usize, usize) -> Vec<usize>);
        let plans: [Plan; 3] = [
            ("blocks of 64", 64, signal::fixed_blocks),
            ("blocks of 512", 512, signal::fixed_blocks),
            ("random blocks up to 512", 512, |n, max| {
                signal::random_blocks(n, max, 17)
            }),
        ];
        for (name, max_block, plan) in plans {
            let mut host = open(f64::from(rate), max_block, Some(&blob))?;
            host.set_offline(true)?;
            let latency = host.latency()? as usize;
            let expected = crate::spec::expected_latency(max_block as u32, f64::from(rate));
            ensure!(
                latency == expected as usize,
                "{}: latency {latency} in Master mode, the spec says {expected}",
                host.format()
            );
            let input = padded(&fixture.input, latency);
            let output = host.process(&input, &plan(input[0].len(), max_block), &[master_on()])?;
            let what = format!("{} offline at {rate} Hz, {name}", host.format());
            let db = check_mastered(&output, latency, &fixture, &what)?;
            figure(format!(
                "{what}: plugin vs CLI render peak error {db:.1} dB"
            ));
        }
    }
    Ok(())
}

/// Processes `input` in blocks of the maximum block size the way a live host does: each block
/// is handed over once its audio has been "captured", i.e. when the wall clock has reached the
/// block's end, so the plugin's worker gets real time to work. `changes` go with the first block.
fn process_paced(host: &mut dyn TestHost, input: &Planar, changes: &[Change]) -> Result<Planar> {
    let block = host.max_block();
    let rate = host.sample_rate();
    let frames = input[0].len();
    let started = Instant::now();
    let mut output: Planar = vec![Vec::with_capacity(frames); input.len()];
    let mut start = 0;
    while start < frames {
        let end = (start + block).min(frames);
        let due = Duration::from_secs_f64(end as f64 / rate);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        let part: Planar = input.iter().map(|c| c[start..end].to_vec()).collect();
        let first = if start == 0 { changes } else { &[] };
        let out = host.process(&part, &[end - start], first)?;
        for (all, new) in output.iter_mut().zip(out) {
            all.extend(new);
        }
        start = end;
    }
    Ok(output)
}

/// Whether `output` equals `expected` within `tolerance` on every channel for frames `range`.
fn matches(
    output: &Planar,
    expected: &Planar,
    range: std::ops::Range<usize>,
    tolerance: f32,
) -> bool {
    output.iter().zip(expected).all(|(o, e)| {
        o[range.clone()]
            .iter()
            .zip(&e[range.clone()])
            .all(|(o, e)| (o - e).abs() <= tolerance)
    })
}

/// `audio` delayed by `latency` frames (silence first), as long as `audio` plus the latency.
fn delayed(audio: &Planar, latency: usize) -> Planar {
    audio
        .iter()
        .map(|c| {
            let mut full = vec![0.0; latency];
            full.extend_from_slice(c);
            full
        })
        .collect()
}

/// A processed stream the realtime output may carry: the bridge's stream restarted at host frame
/// `restart` (0: the stream from the start), i.e. the match applied from zero history to the
/// input from `restart` on, delayed by the latency. The bridge plays the dry signal until
/// `restart + latency`.
struct Stream {
    restart: usize,
    processed: Planar,
}

impl Stream {
    fn restarted(fixture: &MasterFixture, restart: usize, latency: usize) -> Result<Self> {
        let mut input = fixture.input.clone();
        for channel in &mut input {
            let cut = restart.min(channel.len());
            channel[..cut].fill(0.0);
        }
        let rendered = cli_render(
            &fixture.profile,
            &fixture.settings,
            fixture.sample_rate,
            &input,
        )?;
        Ok(Self {
            restart,
            processed: delayed(&rendered, latency),
        })
    }

    /// Whether output frames `range` are this stream: the dry signal before `restart +
    /// latency`, the processed stream from there on.
    fn explains(
        &self,
        output: &Planar,
        dry: &Planar,
        range: std::ops::Range<usize>,
        latency: usize,
        allowed: f32,
    ) -> bool {
        let switch = (self.restart + latency).clamp(range.start, range.end);
        matches(output, dry, range.start..switch, TOLERANCE)
            && matches(output, &self.processed, switch..range.end, allowed)
    }
}

/// Realtime (paced like a live host): no allocation abort, no NaN, and every block is either
/// the processed signal or, where the worker fell behind, the dry input delayed by the latency.
///
/// The processed signal is the CLI's render of the input, exactly as offline, unless the bridge
/// restarted its stream (its initial reset is acknowledged by the worker only after the first
/// blocks, and a worker too far behind restarts it): then the dry signal plays until the restart
/// point plus the latency, and the processed signal is the render of the input from the restart
/// point on (zero history). Restart points are not observable from the host, so when a block
/// fits no known stream, the host block starts before it are tried as restart points. How many
/// blocks were which is printed, not asserted.
pub fn realtime_blocks_processed_or_dry(open: Open<'_>) -> Result<()> {
    /// Restart points tried for one unexplained block.
    const MAX_CANDIDATES: usize = 48;
    let fixture = MasterFixture::new(48_000)?;
    let blob = profile_state(open, &fixture)?;
    let mut host = open(48_000.0, 512, Some(&blob))?;
    host.set_offline(false)?;
    let latency = host.latency()? as usize;
    let input = padded(&fixture.input, latency);
    let output = process_paced(host.as_mut(), &input, &[master_on()])?;
    ensure!(
        output.iter().flatten().all(|x| x.is_finite()),
        "{}: realtime output holds NaN or infinite samples",
        host.format()
    );
    let dry = delayed(&fixture.input, latency);
    let allowed = peak(&fixture.rendered) * 10f32.powf(MAX_ERROR_DB as f32 / 20.0);
    let mut streams = vec![Stream {
        restart: 0,
        processed: delayed(&fixture.rendered, latency),
    }];
    let block = host.max_block();
    let len = output[0].len();
    let (mut processed_blocks, mut dry_blocks, mut dry_since_restart) = (0usize, 0usize, 0usize);
    for start in (0..len).step_by(block) {
        let range = start..(start + block).min(len);
        let silent = matches(&output, &dry, range.clone(), TOLERANCE)
            && matches(&output, &streams[0].processed, range.clone(), 0.0);
        if silent {
            // Before the latency: silence, whatever the path.
            continue;
        }
        if matches(&output, &dry, range.clone(), TOLERANCE) {
            dry_blocks += 1;
            dry_since_restart += 1;
            continue;
        }
        if streams
            .iter()
            .any(|s| s.explains(&output, &dry, range.clone(), latency, allowed))
        {
            processed_blocks += 1;
            continue;
        }
        let first_wet = range
            .clone()
            .find(|&t| !matches(&output, &dry, t..t + 1, TOLERANCE))
            .unwrap_or(range.start);
        let newest = first_wet.saturating_sub(latency) / block * block;
        let mut found = None;
        for restart in (0..=newest).rev().step_by(block).take(MAX_CANDIDATES) {
            if streams.iter().any(|s| s.restart == restart) {
                continue;
            }
            let stream = Stream::restarted(&fixture, restart, latency)?;
            if stream.explains(&output, &dry, range.clone(), latency, allowed) {
                found = Some(stream);
                break;
            }
        }
        let Some(stream) = found else {
            bail!(
                "{}: realtime block at frames {}..{} is neither the processed signal (from the \
                 start or from a stream restart at any of the {MAX_CANDIDATES} host blocks \
                 before it, restarts found so far: {:?}) nor the delayed dry signal; its frames \
                 against the uninterrupted stream: {}; all blocks: {}",
                host.format(),
                range.start,
                range.end,
                streams.iter().map(|s| s.restart).collect::<Vec<_>>(),
                describe_frames(&output, &fixture, latency, range.clone()),
                describe(&classify_blocks(&output, &fixture, latency, block))
            );
        };
        figure(format!(
            "{} realtime: the bridge restarted its stream at host frame {}",
            host.format(),
            stream.restart
        ));
        streams.push(stream);
        processed_blocks += 1;
        dry_since_restart = 0;
    }
    figure(format!(
        "{} realtime Master: {processed_blocks} blocks processed, {dry_blocks} dry (worker \
         behind), stream restarts at {:?}",
        host.format(),
        streams.iter().map(|s| s.restart).collect::<Vec<_>>()
    ));
    if dry_since_restart == 0 {
        figure(format!(
            "{} realtime Master kept up: every block since the last restart equals the CLI \
             render",
            host.format()
        ));
    }
    Ok(())
}

/// `compare` on in Master mode: the output is the dry input delayed by the latency times the
/// match's loudness gain.
pub fn compare_is_level_matched_dry(open: Open<'_>) -> Result<()> {
    let fixture = MasterFixture::new(48_000)?;
    let blob = profile_state(open, &fixture)?;
    // The gain the plugin's Mastering applies (`MatchProfile::output_gain_db`: the loudness
    // match plus any learned limiter compensation).
    let gain_db = fixture.gain_db()?;
    ensure!(
        gain_db.abs() > 1.0,
        "the fixture's loudness gain is only {gain_db:.2} dB; the test could not tell it from 0"
    );
    let mut host = open(48_000.0, 512, Some(&blob))?;
    host.set_offline(true)?;
    let latency = host.latency()? as usize;
    let input = padded(&fixture.input, latency);
    let plan = signal::fixed_blocks(input[0].len(), host.max_block());
    let output = host.process(
        &input,
        &plan,
        &[
            master_on(),
            Change {
                frame: 0,
                param: Param::Compare(true),
            },
        ],
    )?;
    let gain = 10f64.powf(gain_db / 20.0) as f32;
    signal::check_delayed(&input, &output, latency, gain, 0, TOLERANCE * gain.max(1.0))
        .with_context(|| {
            format!(
                "{}: A/B Original in Master mode should be the delayed dry input at the \
                 match's loudness gain {gain_db:.3} dB",
                host.format()
            )
        })?;
    figure(format!(
        "{} A/B Original: dry at {gain_db:+.2} dB, exact",
        host.format()
    ));
    Ok(())
}

/// The match lives in the state: saved after loading it (and switching to Master), reloaded
/// into a fresh instance, it renders the same output without any parameter change.
pub fn state_round_trip_keeps_the_match(open: Open<'_>) -> Result<()> {
    let fixture = MasterFixture::new(48_000)?;
    let blob = profile_state(open, &fixture)?;
    let mut first = open(48_000.0, 512, Some(&blob))?;
    first.set_offline(true)?;
    let latency = first.latency()? as usize;
    let input = padded(&fixture.input, latency);
    let plan = signal::fixed_blocks(input[0].len(), first.max_block());
    let before = first.process(&input, &plan, &[master_on()])?;
    check_mastered(&before, latency, &fixture, "first instance")?;

    let saved = first.save_state()?;
    let parsed = state::parse(&saved)?;
    let session = state::session(&parsed)?;
    let profile: MatchProfile = serde_json::from_value(session["master"]["profile"].clone())
        .with_context(|| format!("the saved session has no readable master.profile: {session}"))?;
    // serde_json parses floats to within an ulp or so (without its `float_roundtrip` feature),
    // so the numbers are compared with a relative tolerance.
    let loaded = serde_json::to_value(&fixture.profile)?;
    if let Some(path) = json_difference(&serde_json::to_value(&profile)?, &loaded, "profile") {
        bail!(
            "{}: the saved profile differs from the loaded one at {path}",
            first.format()
        );
    }
    ensure!(
        session["notice"].is_null(),
        "{}: a good match left a notice: {session}",
        first.format()
    );
    drop(first);

    let mut second = open(48_000.0, 512, Some(&saved))?;
    second.set_offline(true)?;
    let after = second.process(&input, &plan, &[])?;
    let (db, frame, channel) = error_db(&after, &before);
    ensure!(
        db < MAX_ERROR_DB,
        "{}: after a state round trip the output differs by {db:.1} dB (frame {frame}, channel \
         {channel}: {} vs {})",
        second.format(),
        after[channel][frame],
        before[channel][frame]
    );
    figure(format!(
        "{} state round trip with a match: outputs agree to {db:.1} dB",
        second.format()
    ));
    Ok(())
}

/// A damaged match in the session (a curve of the wrong length) does not fail activation:
/// Master mode passes the dry signal delayed by the latency, and the re-saved session carries a
/// notice for the user.
pub fn damaged_profile_passes_dry_with_notice(open: Open<'_>) -> Result<()> {
    let fixture = MasterFixture::new(48_000)?;
    let mut profile = serde_json::to_value(&fixture.profile)?;
    let curve = profile["mid_curve_db"]
        .as_array_mut()
        .context("the profile has no mid_curve_db array")?;
    curve.truncate(10);
    let defaults = default_state(open, 48_000.0)?;
    let (damaged, _) = with_profile(&defaults, &profile)?;
    let mut host = open(48_000.0, 512, Some(&state::to_bytes(&damaged)?))
        .context("a state with a damaged match must still load and activate")?;
    host.set_offline(true)?;
    let latency = host.latency()? as usize;
    let input = padded(&fixture.input, latency);
    let plan = signal::fixed_blocks(input[0].len(), host.max_block());
    let output = host.process(&input, &plan, &[master_on()])?;
    signal::check_delayed(&input, &output, latency, 1.0, 0, TOLERANCE).with_context(|| {
        format!(
            "{}: Master mode with a damaged match should pass the dry signal",
            host.format()
        )
    })?;
    let resaved = state::parse(&host.save_state()?)?;
    let session = state::session(&resaved)?;
    match session["notice"].as_str() {
        Some(notice) if !notice.is_empty() => {
            figure(format!("{} damaged match notice: {notice}", host.format()));
        }
        _ => bail!(
            "{}: after loading a damaged match the re-saved session has no notice: {session}",
            host.format()
        ),
    }
    Ok(())
}

/// A state with a match loaded while the plugin is already active and processing (a preset
/// recall or an undo in the host) takes effect: Master mode then renders what the CLI renders.
pub fn match_loaded_while_active(open: Open<'_>) -> Result<()> {
    let fixture = MasterFixture::new(48_000)?;
    let blob = profile_state(open, &fixture)?;
    let mut host = open(48_000.0, 512, None)?;
    host.set_offline(true)?;
    // Processing is running before the state arrives.
    host.process(&vec![vec![0.0; 2048]; 2], &[512; 4], &[])?;
    host.load_state(&blob)?;
    let latency = host.latency()? as usize;
    let frames = fixture.input[0].len();
    // Silence first, long enough to flush everything from before the load through the latency.
    let lead = latency + 2 * host.max_block();
    let mut input: Planar = vec![vec![0.0; lead]; 2];
    for (all, channel) in input.iter_mut().zip(&fixture.input) {
        all.extend_from_slice(channel);
        all.resize(lead + frames + latency, 0.0);
    }
    let plan = signal::fixed_blocks(input[0].len(), host.max_block());
    let output = host.process(&input, &plan, &[master_on()])?;
    let shifted: Planar = output.iter().map(|c| c[lead..].to_vec()).collect();
    check_mastered(
        &shifted,
        latency,
        &fixture,
        &format!("{} match loaded while active", host.format()),
    )?;
    Ok(())
}

/// A damaged match loaded while a good one is running: the good one stops (Master mode passes
/// the dry signal delayed by the latency, not the previous match) and the session carries a
/// notice.
pub fn damaged_match_loaded_while_active(open: Open<'_>) -> Result<()> {
    let fixture = MasterFixture::new(48_000)?;
    let blob = profile_state(open, &fixture)?;
    let mut host = open(48_000.0, 512, Some(&blob))?;
    host.set_offline(true)?;
    let latency = host.latency()? as usize;
    // The good match runs first.
    let input = padded(&fixture.input, latency);
    let plan = signal::fixed_blocks(input[0].len(), host.max_block());
    let output = host.process(&input, &plan, &[master_on()])?;
    check_mastered(&output, latency, &fixture, "before the damaged state")?;

    let mut profile = serde_json::to_value(&fixture.profile)?;
    profile["side_curve_db"]
        .as_array_mut()
        .context("the profile has no side_curve_db array")?
        .truncate(3);
    let (damaged, _) = with_profile(&state::parse(&blob)?, &profile)?;
    host.load_state(&state::to_bytes(&damaged)?)
        .context("a state with a damaged match must still load")?;
    // Silence long enough for the load to reach the engine and the old signal to leave.
    let lead = latency + 2 * host.max_block();
    flush_silence(host.as_mut(), lead)?;
    let output = host.process(&input, &plan, &[master_on()])?;
    signal::check_delayed(&input, &output, latency, 1.0, 0, TOLERANCE).with_context(|| {
        format!(
            "{}: after loading a damaged match while active, Master mode should pass the dry \
             signal (not keep the previous match)",
            host.format()
        )
    })?;
    let session = state::session(&state::parse(&host.save_state()?)?)?;
    match session["notice"].as_str() {
        Some(notice) if !notice.is_empty() => {
            figure(format!(
                "{} damaged match loaded while active: {notice}",
                host.format()
            ));
            Ok(())
        }
        _ => bail!(
            "{}: after loading a damaged match while active the session has no notice: {session}",
            host.format()
        ),
    }
}

/// Processes `frames` of silence in maximum-size blocks, discarding the output.
fn flush_silence(host: &mut dyn TestHost, frames: usize) -> Result<()> {
    let silence = vec![vec![0.0; frames]; host.channels()];
    host.process(
        &silence,
        &signal::fixed_blocks(frames, host.max_block()),
        &[],
    )?;
    Ok(())
}

/// Subnormal input in every mode, realtime and offline: Monitor, Master with a learned match,
/// the level-matched compare, bypass, and Monitor at -6 dB. Subnormals cost the host and the
/// plugins after this one dearly, so no output sample may be subnormal, whether it was
/// computed (the match, the limiter, the gain) or copied (the delayed dry signal). Each mode
/// runs for the latency plus eight blocks, so its own output is heard.
pub fn no_subnormal_output(open: Open<'_>) -> Result<()> {
    let fixture = MasterFixture::new(48_000)?;
    let blob = profile_state(open, &fixture)?;
    let modes: [(&str, &[Param]); 5] = [
        ("Monitor", &[Param::Master(false)]),
        ("Master", &[Param::Master(true)]),
        ("Master compare", &[Param::Compare(true)]),
        ("bypass", &[Param::Compare(false), Param::Bypass(true)]),
        (
            "Monitor at -6 dB",
            &[
                Param::Bypass(false),
                Param::Master(false),
                Param::GainDb(-6.0),
            ],
        ),
    ];
    for offline in [false, true] {
        let mut host = open(48_000.0, 512, Some(&blob))?;
        host.set_offline(offline)?;
        let block = host.max_block();
        let segment = (host.latency()? as usize).div_ceil(block) * block + 8 * block;
        let input = signal::with_subnormals(2, segment, 11);
        let render = if offline { "offline" } else { "realtime" };
        for (name, params) in modes {
            let changes: Vec<Change> = params
                .iter()
                .map(|&param| Change { frame: 0, param })
                .collect();
            let output = if offline {
                let plan = signal::fixed_blocks(segment, block);
                host.process(&input, &plan, &changes)?
            } else {
                process_paced(host.as_mut(), &input, &changes)?
            };
            let subnormals = signal::count_subnormals(&output);
            ensure!(
                subnormals == 0,
                "{} {render} {name}: {subnormals} of {} output samples are subnormal (the \
                 input held {})",
                host.format(),
                2 * segment,
                signal::count_subnormals(&input)
            );
            ensure!(
                output.iter().flatten().any(|x| x.abs() > 0.01),
                "{} {render} {name}: the output is silent, so it proves nothing",
                host.format()
            );
        }
        figure(format!(
            "{} {render}: no subnormal output in {} with {} subnormal input samples per mode",
            host.format(),
            modes.map(|(name, _)| name).join(", "),
            signal::count_subnormals(&input)
        ));
    }
    Ok(())
}
