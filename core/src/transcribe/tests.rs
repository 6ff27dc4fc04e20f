//! Note creation, pitch bends, times and MIDI on hand-made activations.

use super::*;

/// Activations of `frames` frames, all zero.
fn empty(frames: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    (
        vec![0.0; frames * NOTE_BINS],
        vec![0.0; frames * NOTE_BINS],
        vec![0.0; frames * CONTOUR_BINS],
    )
}

fn build(frames: usize, edit: impl FnOnce(&mut [f32], &mut [f32], &mut [f32])) -> Activations {
    let (mut note, mut onset, mut contour) = empty(frames);
    edit(&mut note, &mut onset, &mut contour);
    Activations::new(frames, note, onset, contour).unwrap()
}

fn settings(pitch_bends: bool) -> NoteSettings {
    NoteSettings {
        pitch_bends,
        ..NoteSettings::default()
    }
}

#[test]
fn an_onset_starts_a_note_that_lasts_while_the_frames_stay_on() {
    let bin = 39; // MIDI 60
    let act = build(200, |note, onset, _| {
        for t in 20..80 {
            note[t * NOTE_BINS + bin] = 0.8;
        }
        onset[20 * NOTE_BINS + bin] = 0.9;
    });
    let notes = notes_from_activations(&act, &settings(false));
    assert_eq!(notes.len(), 1, "{notes:?}");
    let n = &notes[0];
    assert_eq!(n.pitch, 60);
    assert_eq!(n.start_s, frame_time(20));
    assert_eq!(n.end_s, frame_time(80));
    assert!((n.amplitude - 0.8).abs() < 1e-6);
    assert_eq!(n.velocity(), 102);
    assert!(n.bends.is_none());
}

#[test]
fn short_notes_are_dropped_and_the_threshold_is_inclusive_of_the_reference_rule() {
    // 11 frames is not longer than the minimum (11 frames at 127.7 ms).
    assert_eq!(NoteSettings::default().min_note_frames(), 11);
    for (len, expected) in [(11, 0), (12, 1)] {
        let act = build(100, |note, onset, _| {
            for t in 10..10 + len {
                note[t * NOTE_BINS + 50] = 0.6;
            }
            onset[10 * NOTE_BINS + 50] = 0.7;
        });
        assert_eq!(
            notes_from_activations(&act, &settings(false)).len(),
            expected,
            "{len} frames"
        );
    }
}

#[test]
fn the_second_pass_finds_notes_without_onsets_and_grows_both_ways() {
    let act = build(120, |note, _, _| {
        for t in 30..70 {
            note[t * NOTE_BINS + 10] = if t == 50 { 0.9 } else { 0.5 };
        }
    });
    let notes = notes_from_activations(&act, &settings(false));
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        (notes[0].start_s, notes[0].end_s),
        (frame_time(30), frame_time(69))
    );
    assert_eq!(notes[0].pitch, 31);
}

#[test]
fn silence_has_no_notes() {
    let act = build(500, |_, _, _| {});
    assert!(notes_from_activations(&act, &NoteSettings::default()).is_empty());
    let act = build(0, |_, _, _| {});
    assert!(notes_from_activations(&act, &NoteSettings::default()).is_empty());
}

#[test]
fn pitch_bends_follow_the_contour_peak() {
    let bin = 40; // MIDI 61, contour bin 120
    let act = build(60, |note, onset, contour| {
        for t in 5..40 {
            note[t * NOTE_BINS + bin] = 0.7;
            // the contour sits one third of a semitone sharp, then two flat
            let c = if t < 20 { 121 } else { 118 };
            contour[t * CONTOUR_BINS + c] = 0.9;
        }
        onset[5 * NOTE_BINS + bin] = 0.8;
    });
    let notes = notes_from_activations(&act, &settings(true));
    let bends = notes[0].bends.as_ref().unwrap();
    assert_eq!(bends.len(), 35);
    assert!(bends[..15].iter().all(|&b| b == 1), "{bends:?}");
    assert!(bends[15..].iter().all(|&b| b == -2), "{bends:?}");
    assert_eq!(bend_to_midi(1), 1365);
    assert_eq!(bend_to_midi(-2), -2731);
    assert_eq!(bend_to_midi(9), 8191);
}

#[test]
fn frame_times_follow_the_reference() {
    assert_eq!(frame_time(0), 0.0);
    assert!((frame_time(86) - 86.0 * 256.0 / 22050.0).abs() < 1e-12);
    // Every 172 frames the reference subtracts its window offset.
    let offset = 256.0 / 22050.0 * (172.0 - 43844.0 / 256.0) + 0.0018;
    assert!((frame_time(172) - (172.0 * 256.0 / 22050.0 - offset)).abs() < 1e-12);
}

#[test]
fn settings_out_of_range_are_named() {
    let bad = NoteSettings {
        onset_threshold: 1.5,
        ..NoteSettings::default()
    };
    let msg = bad.validate().unwrap_err().to_string();
    assert!(
        msg.contains("onset threshold") && msg.contains("1.5"),
        "{msg}"
    );
    let bad = NoteSettings {
        min_note_ms: f64::NAN,
        ..NoteSettings::default()
    };
    assert!(bad.validate().is_err());
}

fn note(start_s: f64, end_s: f64, pitch: u8, bends: Option<Vec<i32>>) -> Note {
    Note {
        start_s,
        end_s,
        pitch,
        amplitude: 0.5,
        bends,
    }
}

#[test]
fn midi_holds_the_tempo_the_notes_on_the_grid_and_solo_bends() {
    let notes = [
        note(0.5, 1.0, 60, Some(vec![0, 1, 2])),
        note(2.0, 3.0, 64, Some(vec![1, 1])),
        note(2.5, 3.5, 67, None),
    ];
    let bytes = midi_bytes(&notes, 100.0).unwrap();
    let smf = midly::Smf::parse(&bytes).unwrap();
    assert_eq!(
        smf.header.timing,
        midly::Timing::Metrical(TICKS_PER_BEAT.into())
    );
    let tempo = smf.tracks[0].iter().find_map(|e| match e.kind {
        midly::TrackEventKind::Meta(midly::MetaMessage::Tempo(t)) => Some(t.as_int()),
        _ => None,
    });
    assert_eq!(tempo, Some(600_000));
    let mut tick = 0u32;
    let mut ons = Vec::new();
    let mut bends = Vec::new();
    for e in &smf.tracks[1] {
        tick += e.delta.as_int();
        if let midly::TrackEventKind::Midi { message, .. } = e.kind {
            match message {
                midly::MidiMessage::NoteOn { key, vel } => {
                    ons.push((tick, key.as_int(), vel.as_int()))
                }
                midly::MidiMessage::PitchBend { bend } => bends.push((tick, bend.as_int())),
                _ => {}
            }
        }
    }
    // 100 BPM, 480 ticks per beat: 0.5 s = 400 ticks, 2.0 s = 1600, 2.5 s = 2000.
    assert_eq!(ons, vec![(400, 60, 64), (1600, 64, 64), (2000, 67, 64)]);
    // The first note's bends (then a reset); the second overlaps the third, so none.
    assert_eq!(bends, vec![(400, 0), (533, 1365), (667, 2731), (800, 0)]);
    assert!(midi_bytes(&notes, f64::NAN).is_err());
}
