//! Tempo, beat and key checks on material with known answers (see `synth.rs`).

use super::key::Mode;
use super::musical::{MusicalAnalyzer, MusicalReport};
use super::synth::{
    DANCE, HALF_TIME, HARMONIC_MINOR, NATURAL_MINOR, Noise, ROCK, SIXTEENTHS, Song,
};

/// Analyses a mono signal in 4096-frame blocks, as a stereo pair (both channels equal).
fn analyze(rate: u32, samples: &[f32], with_beats: bool) -> MusicalReport {
    let mut a = MusicalAnalyzer::new(rate);
    for block in samples.chunks(4096) {
        a.add_frames(&[block, block]);
    }
    a.finish(with_beats)
}

fn assert_tempo(report: &MusicalReport, truth: f64, what: &str) {
    let bpm = report
        .bpm
        .unwrap_or_else(|| panic!("{what}: no tempo: {report:?}"));
    assert!(
        (bpm / truth - 1.0).abs() < 0.02,
        "{what}: {bpm} BPM, want {truth} ({report:?})"
    );
}

#[test]
fn click_tracks_give_their_tempo_and_beats() {
    for (i, bpm) in [62.0, 75.0, 90.0, 117.0, 128.0, 145.0, 172.0, 196.0]
        .into_iter()
        .enumerate()
    {
        let rate = [44_100, 48_000, 22_050, 96_000][i % 4];
        let mut song = Song::new(rate, 30.0, 1);
        let beat = 60.0 / bpm;
        let mut t = 1.0;
        let mut clicks = Vec::new();
        while t < 29.5 {
            song.hat_click(t);
            clicks.push(t);
            t += beat;
        }
        let report = analyze(rate, &song.samples, true);
        assert_tempo(&report, bpm, &format!("clicks at {bpm} BPM, {rate} Hz"));
        let beats = report.beats.as_deref().expect("asked for beats");
        // All but the edges land on a click, within 25 ms.
        let hits = clicks
            .iter()
            .filter(|&&c| beats.iter().any(|&b| (b - c).abs() < 0.025))
            .count();
        assert!(
            hits + 2 >= clicks.len(),
            "{bpm} BPM: {hits} of {} clicks found in {beats:?}",
            clicks.len()
        );
    }
}

#[test]
fn drum_grooves_give_their_written_tempo() {
    let cases = [
        ("rock", ROCK, 96.0, 0.5),
        ("rock", ROCK, 128.0, 0.5),
        ("rock", ROCK, 84.0, 0.5),
        ("dance", DANCE, 124.0, 0.5),
        ("dance", DANCE, 174.0, 0.5),
        ("swing", ROCK, 110.0, 0.66),
        ("swing", ROCK, 150.0, 0.62),
    ];
    for (i, (name, pattern, bpm, swing)) in cases.into_iter().enumerate() {
        let mut song = Song::new(44_100, 40.0, i as u64 + 7);
        song.drums(pattern, bpm, swing, 0.3, 40.0);
        let report = analyze(44_100, &song.samples, false);
        assert_tempo(&report, bpm, &format!("{name} at {bpm} BPM"));
        assert!(report.bpm_confidence.unwrap() > 0.3, "{report:?}");
    }
}

#[test]
fn half_time_grooves_read_at_their_felt_tempo() {
    // Kick on 1, snare on 3, eighth-note hats: the accents repeat at half the written tempo,
    // which is the tempo a listener taps (and what the tracker reports); the written tempo
    // only shows in the hats. Either way the beats land on the groove's own grid.
    for (i, bpm) in [140.0, 160.0, 176.0].into_iter().enumerate() {
        let mut song = Song::new(44_100, 40.0, i as u64 + 21);
        song.drums(HALF_TIME, bpm, 0.5, 0.3, 40.0);
        let report = analyze(44_100, &song.samples, false);
        assert_tempo(&report, bpm / 2.0, &format!("half-time at {bpm} BPM"));
    }
}

#[test]
fn grooves_far_from_120_bpm_read_at_their_beat_not_its_half_or_double() {
    // Kick and snare alternate on the beat; the hats fill the off-beats. A rock groove at 186
    // also repeats at 93, one at 64 also pulses at 128 in its eighth notes.
    let cases = [
        ("rock", ROCK, 64.0),
        ("rock", ROCK, 186.0),
        ("dance", DANCE, 190.0),
        ("sixteenths", SIXTEENTHS, 66.0),
        ("sixteenths", SIXTEENTHS, 84.0),
        ("sixteenths", SIXTEENTHS, 176.0),
    ];
    for (i, (name, pattern, bpm)) in cases.into_iter().enumerate() {
        let mut song = Song::new(44_100, 40.0, i as u64 + 31);
        song.drums(pattern, bpm, 0.5, 0.3, 40.0);
        let report = analyze(44_100, &song.samples, false);
        assert_tempo(&report, bpm, &format!("{name} at {bpm} BPM"));
    }
}

#[test]
fn half_time_grooves_at_slow_written_tempos() {
    // Written at 128 the felt tempo is 64, just above the range's floor.
    for (i, (written, want)) in [(128.0, 64.0), (136.0, 68.0)].into_iter().enumerate() {
        let mut song = Song::new(44_100, 40.0, i as u64 + 41);
        song.drums(HALF_TIME, written, 0.5, 0.3, 40.0);
        let report = analyze(44_100, &song.samples, false);
        assert_tempo(
            &report,
            want,
            &format!("half-time written at {written} BPM"),
        );
    }
}

#[test]
fn minor_progressions_that_share_notes_with_a_major_key_read_as_minor() {
    // i-VI-III-VII (Am F C G) has exactly the notes of the relative major and no leading tone;
    // i-VII-VI-V (Am G F E) has every note of the major key a tone below but one. The bass and
    // the opening chord name the tonic.
    let cases = [
        (NATURAL_MINOR, [0, 5, 2, 6]),
        (HARMONIC_MINOR, [0, 6, 5, 4]),
        (NATURAL_MINOR, [0, 3, 6, 2]),
    ];
    for (i, (scale, degrees)) in cases.into_iter().enumerate() {
        for tonic in [9u8, 4, 1] {
            let mut song = Song::new(44_100, 30.0, i as u64 + 51);
            let bars: Vec<usize> = degrees.iter().copied().cycle().take(8).collect();
            song.chords(tonic, scale, &bars, 70.0, 0.2, 0.0);
            let report = analyze(44_100, &song.samples, false);
            let key = report.key.unwrap_or_else(|| panic!("no key: {report:?}"));
            assert_eq!(
                (key.tonic, key.mode),
                (tonic, Mode::Minor),
                "{degrees:?} in {tonic} minor read as {key}"
            );
        }
    }
}

#[test]
fn an_intro_without_drums_does_not_move_the_tempo() {
    let bpm = 100.0;
    let bar = 2.4;
    let mut song = Song::new(48_000, 8.0 * bar + 30.0, 3);
    song.progression(2, false, bpm, 0.0, 0.0);
    song.progression(2, false, bpm, 8.0 * bar, 0.0);
    song.drums(ROCK, bpm, 0.5, 8.0 * bar, 8.0 * bar + 30.0);
    let report = analyze(48_000, &song.samples, false);
    assert_tempo(&report, bpm, "chord intro then drums");
    assert_eq!(
        report.key.map(|k| k.to_string()).as_deref(),
        Some("D major")
    );
}

#[test]
fn progressions_in_every_key_give_that_key() {
    for tonic in 0..12u8 {
        for minor in [false, true] {
            let mut song = Song::new(44_100, 20.0, 5);
            // Some songs are not tuned to A = 440 Hz.
            let cents = [0.0, 25.0, -30.0][usize::from(tonic) % 3];
            song.progression(tonic, minor, 100.0, 0.2, cents);
            let report = analyze(44_100, &song.samples, false);
            let key = report.key.unwrap_or_else(|| panic!("no key: {report:?}"));
            let mode = if minor { Mode::Minor } else { Mode::Major };
            assert_eq!(
                (key.tonic, key.mode),
                (tonic, mode),
                "{tonic} {mode:?} ({cents} cents) read as {key} ({report:?})"
            );
        }
    }
}

#[test]
fn keys_are_spelled_as_musicians_write_them() {
    let name = |tonic, mode| super::key::Key { tonic, mode }.to_string();
    assert_eq!(name(3, Mode::Major), "Eb major");
    assert_eq!(name(6, Mode::Major), "F# major");
    assert_eq!(name(1, Mode::Major), "Db major");
    assert_eq!(name(9, Mode::Minor), "A minor");
    assert_eq!(name(1, Mode::Minor), "C# minor");
    assert_eq!(name(8, Mode::Minor), "G# minor");
    assert_eq!(name(10, Mode::Minor), "Bb minor");
}

#[test]
fn silence_noise_and_speech_like_sound_have_no_tempo_or_key() {
    let rate = 44_100;
    let silence = vec![0.0f32; 10 * rate as usize];
    let report = analyze(rate, &silence, true);
    assert_eq!((report.bpm, report.key), (None, None), "silence");
    assert_eq!(report.beats, Some(Vec::new()));

    let mut noise = Noise::new(9);
    let white: Vec<f32> = (0..20 * rate).map(|_| 0.3 * noise.next()).collect();
    let report = analyze(rate, &white, false);
    assert_eq!((report.bpm, report.key), (None, None), "white noise");

    // Speech-like: a gliding voiced pitch in irregular syllables with noisy consonants.
    let mut song = Song::new(rate, 20.0, 11);
    let mut t = 0.1;
    let mut rng = Noise::new(4);
    while t < 19.5 {
        let length = 0.12 + 0.15 * f64::from(rng.next().abs());
        let start_note = 48.0 + 8.0 * f64::from(rng.next());
        let glide = 4.0 * f64::from(rng.next());
        song.glide(t, start_note, glide, length);
        t += length + 0.05 + 0.25 * f64::from(rng.next().abs());
    }
    let report = analyze(rate, &song.samples, false);
    assert_eq!(
        (report.bpm, report.key),
        (None, None),
        "speech-like: {report:?}"
    );
}

#[test]
fn nan_and_odd_formats_are_analysed_without_panicking() {
    let mut song = Song::new(8_000, 20.0, 2);
    song.drums(ROCK, 120.0, 0.5, 0.0, 20.0);
    song.samples[1000] = f32::NAN;
    song.samples[2000] = f32::INFINITY;
    let report = analyze(8_000, &song.samples, false);
    assert_tempo(&report, 120.0, "8 kHz with NaN");
    // Six channels at 192 kHz, one frame, and nothing at all.
    let mut a = MusicalAnalyzer::new(192_000);
    let one = [0.5f32];
    a.add_frames(&[&one[..]; 6]);
    assert_eq!(a.finish(true).bpm, None);
    assert_eq!(MusicalAnalyzer::new(44_100).finish(false).key, None);
}
