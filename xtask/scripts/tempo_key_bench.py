#!/usr/bin/env python3
"""Tempo and key bench: songs with known tempo and key, `mixsmith analyze` against librosa.

Renders a set of songs from General MIDI files written here (drums on channel 10, bass, chords,
a melody; grooves: rock, dance, half-time, swing, a drum-less intro; tempos 60-200 BPM, all 24
keys) with fluidsynth through every GM soundfont Debian ships that is installed, then measures:

- tempo accuracy: within 4 % of the tempo (Acc1; for half-time grooves the felt tempo, half the
  written one, when it is 60 BPM or more), and allowing x2, x1/2, x3, x1/3
  (Acc2), for `mixsmith analyze --json` and for librosa's `beat_track`;
- key: the MIREX weighted score (1 right, 0.5 fifth, 0.3 relative, 0.2 parallel) for
  `mixsmith analyze` and for a chroma + Krumhansl-Schmuckler baseline (librosa's chroma_stft
  averaged, correlated with the Krumhansl-Kessler profiles);
- seconds per song: `mixsmith analyze --tempo-key` (tempo and key) and `mixsmith analyze`
  (also loudness and both peaks), each as a whole process per song, and `mixsmith analyze
  --tempo-key` given every song at once (one process, as a library is tagged, median of three
  runs; its answers must be those of the per-song runs), against librosa load + beat_track
  (and load + chroma for the key) in this warm Python (its numba functions compiled by a
  warm-up call before any timing), and their ratios.

Usage: tempo_key_bench.py MIXSMITH_CLI WORK_DIR [SONGS [SEED]]
SEED (default 20261202) draws another set of songs: render a held-out set into another WORK_DIR
with another seed to check that changes tuned on one set carry over.
Needs: fluidsynth and GM soundfonts (fluid-soundfont-gm, timgm6mb-soundfont,
musescore-general-soundfont-small), and in this Python: librosa, mido, numpy.
"""

import filecmp
import json
import math
import os
import random
import subprocess
import sys
import time

import librosa
import mido
import numpy as np

SOUNDFONTS = [
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/MuseScore_General.sf2",
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
]
NAMES_MAJOR = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
NAMES_MINOR = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"]
PITCH = {n: i for i, n in enumerate(NAMES_MAJOR)} | {n: i for i, n in enumerate(NAMES_MINOR)}

# Sixteenth-step drum patterns (GM drums: 36 kick, 38 snare, 42 closed hat, 46 open hat, 49 crash).
GROOVES = {
    "rock": {36: [0, 8, 10], 38: [4, 12], 42: [0, 2, 4, 6, 8, 10, 12, 14]},
    "dance": {36: [0, 4, 8, 12], 38: [4, 12], 42: [2, 6, 10, 14], 46: [14]},
    "halftime": {36: [0, 3], 38: [8], 42: [0, 2, 4, 6, 8, 10, 12, 14]},
    "swing": {36: [0, 8], 38: [4, 12], 42: [0, 2, 4, 6, 8, 10, 12, 14]},
    "sixteenths": {36: [0, 6, 8], 38: [4, 12], 42: list(range(16))},
}
MAJOR_SCALE = [0, 2, 4, 5, 7, 9, 11]
MINOR_SCALE = [0, 2, 3, 5, 7, 8, 10]
# Every progression must name its key, or the song has no right answer. A loop of chords that
# are all diatonic to both a major key and its relative minor says nothing of which one it is in
# (Am F G C is vi-IV-V-I in C major and i-VI-VII-III in A minor; Am Dm G C is vi-ii-V-I and
# i-iv-VII-III; Am F C G is vi-IV-I-V and i-VI-III-VII): a listener hears the tonic from the
# melody's cadences, which these loops do not have. So a major loop starts on its tonic chord and
# a minor loop also holds the harmonic minor's dominant (V, with the raised seventh), the chord
# that tells a minor key from its relative major. (Until 2026-12-04 the set also had the first
# three loops, read as "major", "minor", "minor": every key the analysis missed was one of them.)
PROGRESSIONS_MAJOR = [[0, 4, 5, 3], [0, 3, 4, 0], [0, 5, 3, 4], [0, 3, 0, 4], [0, 1, 4, 0]]
PROGRESSIONS_MINOR = [[0, 5, 2, 4], [0, 3, 4, 0], [0, 6, 5, 4], [0, 3, 6, 4], [0, 5, 6, 4]]
# GM programs: pianos, organ, guitars, strings, pads, brass, synth leads.
CHORD_PROGRAMS = [0, 1, 4, 16, 24, 25, 48, 49, 88, 61]
BASS_PROGRAMS = [32, 33, 34, 38, 39]
LEAD_PROGRAMS = [0, 11, 40, 56, 65, 73, 80, 81, 22]
KK_MAJOR = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]
KK_MINOR = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]


def song_midi(rng, bpm, tonic, minor, groove, intro_bars, bars=14):
    """A General MIDI song: returns a mido.MidiFile."""
    tpb = 480
    step = tpb // 4
    mid = mido.MidiFile(ticks_per_beat=tpb)
    events = []  # (tick, message)
    scale = MINOR_SCALE if minor else MAJOR_SCALE
    progression = rng.choice(PROGRESSIONS_MINOR if minor else PROGRESSIONS_MAJOR)
    chord_prog, bass_prog, lead_prog = (
        rng.choice(CHORD_PROGRAMS),
        rng.choice(BASS_PROGRAMS),
        rng.choice(LEAD_PROGRAMS),
    )
    for channel, program in ((0, chord_prog), (1, bass_prog), (2, lead_prog)):
        events.append((0, mido.Message("program_change", channel=channel, program=program)))

    def note(channel, pitch, start, length, velocity):
        events.append((start, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        events.append((start + length, mido.Message("note_off", channel=channel, note=pitch)))

    def degree_pitch(degree, octave_base):
        octave, d = divmod(degree, 7)
        return octave_base + tonic + scale[d] + 12 * octave

    swing = groove == "swing"
    lead_degree = 7
    for bar in range(bars):
        bar_tick = bar * 16 * step
        root = progression[bar % len(progression)]
        # Harmonic minor: the dominant chord has a major third (raised seventh degree).
        chord = [degree_pitch(root + i, 48) for i in (0, 2, 4)]
        if minor and root == 4:
            chord[1] += 1
        comp = rng.choice(["whole", "half", "quarters"])
        hits = {"whole": [0], "half": [0, 8], "quarters": [0, 4, 8, 12]}[comp]
        for h in hits:
            length = (16 if comp == "whole" else 8 if comp == "half" else 4) * step - 10
            for p in chord:
                note(0, p, bar_tick + h * step, length, 70)
        for h in rng.choice([[0, 8], [0, 6, 8, 14], [0, 4, 8, 12], [0, 3, 8, 10]]):
            note(1, degree_pitch(root, 36), bar_tick + h * step, 2 * step, 90)
        if bar >= intro_bars:
            for s in range(0, 16, 2):
                if rng.random() < 0.6:
                    lead_degree = max(3, min(13, lead_degree + rng.choice([-2, -1, 1, 2, 0])))
                    pitch = degree_pitch(lead_degree, 60)
                    if minor and lead_degree % 7 == 6 and root == 4:
                        pitch += 1
                    note(2, pitch, bar_tick + s * step, 2 * step - 20, 80)
            for drum, steps in GROOVES[groove].items():
                for s in steps:
                    tick = bar_tick + s * step
                    if swing and s % 4 == 2:
                        tick += step // 2
                    note(9, drum, tick, step, 100 if drum != 42 else 70)
            if bar == intro_bars:
                note(9, 49, bar_tick, 4 * step, 100)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    last = 0
    for tick, msg in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
        track.append(msg.copy(time=tick - last))
        last = tick
    mid.tracks.append(track)
    return mid


def render(midi_path, wav_path, soundfont):
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", "44100", "-F", wav_path, soundfont, midi_path],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def key_score(estimate, truth):
    """MIREX weighted key score between two (tonic, minor) pairs."""
    if estimate is None:
        return 0.0
    (et, em), (tt, tm) = estimate, truth
    if (et, em) == (tt, tm):
        return 1.0
    if em == tm and (et - tt) % 12 in (5, 7):
        return 0.5
    if em != tm and not tm and (et - tt) % 12 == 9:  # relative minor of a major truth
        return 0.3
    if em != tm and tm and (et - tt) % 12 == 3:  # relative major of a minor truth
        return 0.3
    if et == tt and em != tm:
        return 0.2
    return 0.0


def parse_key(text):
    if text is None:
        return None
    name, mode = text.split()
    return PITCH[name], mode == "minor"


def ks_key(y, sr):
    chroma = librosa.feature.chroma_stft(y=y, sr=sr).mean(axis=1)
    best, best_r = None, -2.0
    for minor, profile in ((False, KK_MAJOR), (True, KK_MINOR)):
        for tonic in range(12):
            r = np.corrcoef(chroma, np.roll(profile, tonic))[0, 1]
            if r > best_r:
                best, best_r = (tonic, minor), r
    return best


def tempo_ok(estimate, truth, factors=(1.0,)):
    return estimate is not None and any(abs(estimate / (truth * f) - 1) <= 0.04 for f in factors)


def main():
    cli, work = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 20261202
    fonts = [f for f in SOUNDFONTS if os.path.exists(f)]
    if not fonts:
        sys.exit("no GM soundfont installed (apt-get install fluid-soundfont-gm timgm6mb-soundfont)")
    os.makedirs(work, exist_ok=True)
    rng = random.Random(seed)
    songs = []
    for i in range(count):
        bpm = round(math.exp(rng.uniform(math.log(60), math.log(200))), 1)
        tonic, minor = rng.randrange(12), rng.random() < 0.5
        groove = rng.choice(list(GROOVES))
        intro = rng.choice([0, 0, 0, 2, 4])
        font = fonts[i % len(fonts)]
        wav = os.path.join(work, f"song{i:03}.wav")
        mid = os.path.join(work, f"song{i:03}.mid")
        # A song is rendered again whenever its MIDI file changed (a new seed or generator).
        fresh = os.path.join(work, f"song{i:03}.new.mid")
        song_midi(rng, bpm, tonic, minor, groove, intro).save(fresh)
        if os.path.exists(wav) and os.path.exists(mid) and filecmp.cmp(fresh, mid, shallow=False):
            os.remove(fresh)
        else:
            os.replace(fresh, mid)
            render(mid, wav, font)
        # A half-time groove's accents repeat at half the written tempo: that is the felt
        # tempo a listener taps, and the truth here whenever it is inside 60-200 BPM.
        truth = bpm / 2 if groove == "halftime" and bpm / 2 >= 60 else bpm
        songs.append(dict(wav=wav, bpm=truth, key=(tonic, minor), groove=groove, intro=intro,
                          font=os.path.basename(font)))

    # librosa compiles its numba functions on first use: warm them up so that the timing below
    # is of the analysis, as a long-running Python would run it.
    y, sr = librosa.load(songs[0]["wav"], sr=22050, mono=True, duration=10.0)
    librosa.beat.beat_track(y=y, sr=sr)
    ks_key(y, sr)

    ours_time = full_time = lib_time = ks_time = 0.0
    acc1 = {"mixsmith": 0, "librosa": 0}
    acc2 = {"mixsmith": 0, "librosa": 0}
    keys = {"mixsmith": 0.0, "ks": 0.0}
    misses = []
    for s in songs:
        start = time.perf_counter()
        out = subprocess.run([cli, "analyze", "--json", "--tempo-key", s["wav"]], check=True,
                             capture_output=True)
        ours_time += time.perf_counter() - start
        report = s["report"] = json.loads(out.stdout)
        start = time.perf_counter()
        full = subprocess.run([cli, "analyze", "--json", s["wav"]], check=True, capture_output=True)
        full_time += time.perf_counter() - start
        full = json.loads(full.stdout)
        if (full.get("bpm"), full.get("key")) != (report.get("bpm"), report.get("key")):
            sys.exit(f"{s['wav']}: --tempo-key and the full analysis disagree: {report} {full}")
        start = time.perf_counter()
        y, sr = librosa.load(s["wav"], sr=22050, mono=True)
        tempo, _ = librosa.beat.beat_track(y=y, sr=sr)
        lib_time += time.perf_counter() - start
        start = time.perf_counter()
        y, sr = librosa.load(s["wav"], sr=22050, mono=True)
        ks = ks_key(y, sr)
        ks_time += time.perf_counter() - start
        lib_bpm = float(np.atleast_1d(tempo)[0])
        octave = (1.0, 2.0, 0.5, 3.0, 1 / 3)
        for name, bpm in (("mixsmith", report.get("bpm")), ("librosa", lib_bpm)):
            acc1[name] += tempo_ok(bpm, s["bpm"])
            acc2[name] += tempo_ok(bpm, s["bpm"], octave)
        ours_key = parse_key(report.get("key"))
        keys["mixsmith"] += key_score(ours_key, s["key"])
        keys["ks"] += key_score(ks, s["key"])
        if not tempo_ok(report.get("bpm"), s["bpm"]) or ours_key != s["key"]:
            misses.append(f"  {os.path.basename(s['wav'])} {s['groove']:<10} {s['font']:<22} "
                          f"truth {s['bpm']:6.1f} BPM {NAMES_MINOR[s['key'][0]] if s['key'][1] else NAMES_MAJOR[s['key'][0]]} "
                          f"{'minor' if s['key'][1] else 'major'}: mixsmith {report.get('bpm')} {report.get('key')}, "
                          f"librosa {lib_bpm:.1f}")
    # The batch takes well under a second: the median of three runs, so one stall of the shared
    # machine does not decide it (librosa's time is a sum over every song).
    batch_times = []
    for _ in range(3):
        start = time.perf_counter()
        out = subprocess.run([cli, "analyze", "--json", "--tempo-key", *[s["wav"] for s in songs]],
                             check=True, capture_output=True)
        batch_times.append(time.perf_counter() - start)
        for s, line in zip(songs, out.stdout.decode().splitlines(), strict=True):
            batch = json.loads(line)
            if batch.pop("file") != s["wav"] or batch != s["report"]:
                sys.exit(f"{s['wav']}: the batch and the single run disagree: {line}")
    batch_time = sorted(batch_times)[1]
    n = len(songs)
    print(f"tempo/key bench: {n} songs (seed {seed}), {len(fonts)} soundfonts, grooves {sorted(GROOVES)}")
    print(f"tempo within 4 %:          mixsmith {acc1['mixsmith'] / n:6.1%}   librosa beat_track {acc1['librosa'] / n:6.1%}")
    print(f"tempo allowing x2 x1/2 x3: mixsmith {acc2['mixsmith'] / n:6.1%}   librosa beat_track {acc2['librosa'] / n:6.1%}")
    print(f"key weighted score:        mixsmith {keys['mixsmith'] / n:6.3f}   chroma + Krumhansl-Schmuckler {keys['ks'] / n:6.3f}")
    print(f"seconds per song:          mixsmith analyze --tempo-key (process) {ours_time / n:.4f}   "
          f"librosa load+beat_track {lib_time / n:.4f} ({lib_time / ours_time:.1f}x)   "
          f"librosa load+chroma {ks_time / n:.4f} (with beat_track {(lib_time + ks_time) / ours_time:.1f}x)")
    print(f"                           mixsmith analyze, also loudness and peaks (process) {full_time / n:.4f} "
          f"({lib_time / full_time:.1f}x librosa load+beat_track)")
    print(f"                           mixsmith analyze --tempo-key, all {n} songs in one process {batch_time / n:.4f} "
          f"({lib_time / batch_time:.1f}x librosa load+beat_track, {(lib_time + ks_time) / batch_time:.1f}x with chroma)")
    if misses:
        print("songs mixsmith got wrong (tempo off by more than 4 % or key not exact):")
        print("\n".join(misses))


if __name__ == "__main__":
    main()
