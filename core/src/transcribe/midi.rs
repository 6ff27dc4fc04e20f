//! Standard MIDI files (midly): the notes on one track at the song's tempo, so they land on a
//! DAW's grid, with the pitch bends of notes that overlap no other note (MIDI bends a whole
//! channel), as basic-pitch's own writer does.

use std::path::Path;

use midly::num::{u4, u7, u14, u15, u24, u28};
use midly::{
    Format, Header, MetaMessage, MidiMessage, PitchBend, Smf, Timing, TrackEvent, TrackEventKind,
};

use super::bends::bend_to_midi;
use super::{Note, TranscribeError};

/// Ticks per quarter note.
pub const TICKS_PER_BEAT: u16 = 480;
/// The tempo written when none is known.
pub const DEFAULT_BPM: f64 = 120.0;
/// General MIDI program of the notes' track: Electric Piano 1 (as basic-pitch writes).
const PROGRAM: u8 = 4;
/// The pitch-bend wheel's centre.
const BEND_CENTRE: i32 = 8192;

/// Writes `notes` to `path` as a format-1 MIDI file at `bpm` beats per minute (4/4).
pub fn write_midi(path: &Path, notes: &[Note], bpm: f64) -> Result<(), TranscribeError> {
    let bytes = midi_bytes(notes, bpm)?;
    std::fs::write(path, bytes).map_err(|source| TranscribeError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The MIDI file for `notes` at `bpm`, in memory.
pub fn midi_bytes(notes: &[Note], bpm: f64) -> Result<Vec<u8>, TranscribeError> {
    if !(bpm.is_finite() && (10.0..=1000.0).contains(&bpm)) {
        return Err(TranscribeError::Setting {
            name: "tempo",
            expected: "between 10 and 1000 BPM",
            value: bpm,
        });
    }
    let micros_per_beat = (60_000_000.0 / bpm).round() as u32;
    let ticks =
        |seconds: f64| (seconds.max(0.0) * bpm / 60.0 * f64::from(TICKS_PER_BEAT)).round() as u64;

    let conductor = vec![
        event(
            0,
            TrackEventKind::Meta(MetaMessage::Tempo(u24::new(micros_per_beat))),
        ),
        event(
            0,
            TrackEventKind::Meta(MetaMessage::TimeSignature(4, 2, 24, 8)),
        ),
        event(0, TrackEventKind::Meta(MetaMessage::EndOfTrack)),
    ];

    // (tick, order at equal ticks: note-offs and bend resets, then bends, then note-ons, message)
    let mut timed: Vec<(u64, u8, MidiMessage)> = Vec::new();
    let bend_of = |value: i32| MidiMessage::PitchBend {
        bend: PitchBend(u14::new((value + BEND_CENTRE) as u16)),
    };
    for (note, bends) in notes.iter().zip(solo_bends(notes)) {
        let (on, off) = (ticks(note.start_s), ticks(note.end_s));
        let key = u7::new(note.pitch.min(127));
        timed.push((
            on,
            2,
            MidiMessage::NoteOn {
                key,
                vel: u7::new(note.velocity()),
            },
        ));
        timed.push((
            off,
            0,
            MidiMessage::NoteOff {
                key,
                vel: u7::new(0),
            },
        ));
        if let Some(bends) = bends {
            // One bend per model frame, at the frame's start; the wheel is centred again when
            // the note ends, so the next note is not bent.
            let step = (note.end_s - note.start_s) / bends.len().max(1) as f64;
            for (k, &b) in bends.iter().enumerate() {
                let at = note.start_s + step * k as f64;
                timed.push((ticks(at), 1, bend_of(i32::from(bend_to_midi(b)))));
            }
            timed.push((off, 0, bend_of(0)));
        }
    }
    timed.sort_by_key(|&(tick, order, _)| (tick, order));

    let mut track = vec![
        event(
            0,
            TrackEventKind::Meta(MetaMessage::TrackName(b"Mixsmith notes")),
        ),
        event(
            0,
            TrackEventKind::Midi {
                channel: u4::new(0),
                message: MidiMessage::ProgramChange {
                    program: u7::new(PROGRAM),
                },
            },
        ),
    ];
    let mut last = 0;
    for (tick, _, message) in timed {
        track.push(event(
            tick - last,
            TrackEventKind::Midi {
                channel: u4::new(0),
                message,
            },
        ));
        last = tick;
    }
    track.push(event(0, TrackEventKind::Meta(MetaMessage::EndOfTrack)));

    let smf = Smf {
        header: Header::new(Format::Parallel, Timing::Metrical(u15::new(TICKS_PER_BEAT))),
        tracks: vec![conductor, track],
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes)
        .map_err(|e| TranscribeError::Write {
            path: "<memory>".into(),
            source: e,
        })?;
    Ok(bytes)
}

fn event(delta: u64, kind: TrackEventKind<'_>) -> TrackEvent<'_> {
    TrackEvent {
        delta: u28::new(delta.min(u64::from(u32::MAX >> 4)) as u32),
        kind,
    }
}

/// Each note's bends, or `None` for notes that overlap another note in time (their bends would
/// bend the other note too).
fn solo_bends(notes: &[Note]) -> Vec<Option<&[i32]>> {
    let mut order: Vec<usize> = (0..notes.len()).collect();
    order.sort_by(|&a, &b| {
        notes[a]
            .start_s
            .total_cmp(&notes[b].start_s)
            .then(notes[a].end_s.total_cmp(&notes[b].end_s))
    });
    let mut solo = vec![true; notes.len()];
    for (k, &i) in order.iter().enumerate() {
        for &j in &order[k + 1..] {
            if notes[j].start_s >= notes[i].end_s {
                break;
            }
            solo[i] = false;
            solo[j] = false;
        }
    }
    notes
        .iter()
        .zip(solo)
        .map(|(n, s)| if s { n.bends.as_deref() } else { None })
        .collect()
}
