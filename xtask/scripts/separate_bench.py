#!/usr/bin/env python3
"""Stem separation bench: songs with known stems, `mixsmith separate` against HPSS + REPET-SIM.

Renders a set of songs whose four stems are known exactly, written once into WORK_DIR and reused:

- drums: a General MIDI drum pattern on channel 10 (grooves, fills, crashes), stereo kit;
- bass: a bass line on a GM bass program (32-39) following the chord progression;
- other: one or two parts (pad / strings / organ, piano comping or arpeggios, strummed or picked
  guitar), each rendered on its own, folded to mono and panned off-centre in numpy;
- vocals: a sung melody made from speech: espeak-ng speaks a short lyric line, the WORLD vocoder
  (pyworld) analyses it, each syllable is stretched onto a note of a melody on the song's
  sixteenth grid and resynthesised with the note's pitch (plus glides and vibrato) wherever the
  speech is voiced; centre-panned, with a short low-level noise reverb that stays in the stem.

Tempo 70-160 BPM, key, instruments, voice and levels differ per song; the GM soundfonts Debian
ships that are installed are used in turn. Every MIDI part is rendered with fluidsynth like
tempo_key_bench.py does, stems are scaled so that the mix peaks below 0.9, and mix.wav is the
exact float32 sum of the four stems (WORK_DIR/songNN/mix.wav, WORK_DIR/songNN/stems/*.wav).

Then, per song:
- `mixsmith separate MIX -o OUT --float --json`, timed as a whole process;
- a baseline in this warm Python, timed from loading the mix to having four stems: per channel,
  librosa HPSS (n_fft 4096, hop 1024) and a REPET-SIM vocal mask (librosa's "Vocal separation"
  example: nn_filter with the median of cosine-nearest frames at least 2 s apart, soft masks with
  margins 10 for vocals and 2 for the background); vocals = vocal mask x harmonic part, bass =
  background mask x harmonic part below ~250 Hz, drums = percussive part, other = mix minus those
  three; inverse STFT with the mix phase;
- SDR per stem, 10 log10(sum s^2 / sum (s - s_hat)^2) over both channels and the whole song but
  its first and last second; printed per song and as the mean over songs per stem.

Usage: separate_bench.py MIXSMITH_CLI WORK_DIR [SONGS]   (default 8 songs)
Needs: apt: fluidsynth, GM soundfonts (fluid-soundfont-gm, timgm6mb-soundfont,
musescore-general-soundfont-small), espeak-ng, g++ (pyworld builds from source);
in this Python: librosa, mido, numpy, scipy, soundfile, and pip install pyworld==0.3.5.
"""

import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time

import librosa
import mido
import numpy as np
import pyworld
import scipy.signal
import soundfile as sf

SOUNDFONTS = [
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/MuseScore_General.sf2",
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
]
STEMS = ("vocals", "drums", "bass", "other")
SR = 44100
SECONDS = 30.0
SEED = "mixsmith-separate-bench-1"
TPB = 480  # MIDI ticks per beat
STEP = TPB // 4  # one sixteenth

MAJOR_SCALE = [0, 2, 4, 5, 7, 9, 11]
MINOR_SCALE = [0, 2, 3, 5, 7, 8, 10]
PROGRESSIONS = [[0, 4, 5, 3], [0, 3, 4, 0], [0, 5, 3, 4], [0, 3, 0, 4], [5, 3, 0, 4], [0, 6, 5, 4]]

# Sixteenth-step drum patterns (GM drums: 36 kick, 38 snare, 42 closed hat, 46 open hat, 51 ride).
GROOVES = {
    "rock": {36: [0, 8, 10], 38: [4, 12], 42: [0, 2, 4, 6, 8, 10, 12, 14]},
    "dance": {36: [0, 4, 8, 12], 38: [4, 12], 42: [2, 6, 10, 14], 46: [14]},
    "halftime": {36: [0, 3], 38: [8], 42: [0, 2, 4, 6, 8, 10, 12, 14]},
    "funk": {36: [0, 3, 10], 38: [4, 12, 15], 42: list(range(16))},
    "ride": {36: [0, 10], 38: [4, 12], 51: [0, 4, 6, 8, 12, 14]},
}
FILL_DRUMS = [38, 50, 48, 47, 45, 41]  # snare, high to low toms
# Parts of the "other" stem: GM programs and the ways they may be played.
OTHER_PARTS = {
    "pad": ([88, 89, 90, 91, 92, 94, 48, 49, 50, 16, 19], ["block"]),
    "piano": ([0, 1, 2, 4, 5], ["comp", "arp"]),
    "guitar": ([24, 25, 26, 27, 29], ["strum", "arp"]),
}
BASS_PROGRAMS = list(range(32, 40))
BASS_RHYTHMS = [[0, 8], [0, 6, 8, 14], [0, 4, 8, 12], [0, 3, 8, 10], [0, 2, 4, 6, 8, 10, 12, 14]]
COMP_RHYTHMS = [[0, 4, 8, 12], [0, 6, 8, 14], [0, 3, 6, 10, 12], [2, 6, 10, 14]]
# espeak-ng voices (variant +fN female, +mN male) and the MIDI range their melody is sung in.
VOICES = {"en-us+f2": (57, 74), "en-us+f3": (57, 74), "en-gb+f4": (55, 72), "en-us+f5": (57, 74),
          "en-us+m3": (45, 62), "en-gb+m1": (45, 62), "en-us+m7": (47, 64)}
LYRICS = [
    "hold me in the morning light", "we are running through the rain", "tell me what you want to say",
    "all the stars are falling down", "every road leads back to you", "dancing on the edge of time",
    "I will never let you go", "take my hand and come with me", "burning like a summer fire",
    "nothing ever stays the same", "waiting for the night to end", "say my name and call me home",
    "lonely hearts are singing now", "follow me into the dark", "open up the windows wide",
    "we can fly above the sea", "carry on and don't look back", "shadows on a silver moon",
]
FRAME = 5.0  # WORLD frame period, ms


# ---------------------------------------------------------------------------------------------
# The song plan: everything random about a song, drawn from its own generator.

def plan_song(index, fonts):
    rng = random.Random(f"{SEED}/{index}")
    minor = rng.random() < 0.5
    plan = dict(
        name=f"song{index:02}",
        bpm=round(rng.uniform(70, 160), 1),
        tonic=rng.randrange(12),
        minor=minor,
        scale=MINOR_SCALE if minor else MAJOR_SCALE,
        progression=rng.choice(PROGRESSIONS),
        sevenths=rng.random() < 0.3,
        groove=rng.choice(list(GROOVES)),
        bass_program=rng.choice(BASS_PROGRAMS),
        bass_rhythm=rng.choice(BASS_RHYTHMS),
        font=fonts[index % len(fonts)],
        voice=rng.choice(list(VOICES)),
        intro_bars=rng.choice([1, 2]),
        vibrato=(rng.uniform(4.8, 6.2), rng.uniform(0.2, 0.45)),  # Hz, semitones
        reverb=(rng.uniform(0.3, 1.0), rng.uniform(-20, -12)) if rng.random() < 0.7 else None,
        # Level of each stem relative to the others, dB (each stem is first normalised).
        gains={"vocals": rng.uniform(0, 3), "drums": rng.uniform(-2, 1), "bass": rng.uniform(-4, -1)},
    )
    side = rng.choice([-1, 1])  # with two parts, one goes left and the other right
    plan["others"] = []
    for kind in rng.sample(list(OTHER_PARTS), rng.choice([1, 2])):
        programs, styles = OTHER_PARTS[kind]
        plan["others"].append(dict(kind=kind, program=rng.choice(programs), style=rng.choice(styles),
                                   pan=side * rng.uniform(0.3, 0.8), gain=rng.uniform(-4, 0)))
        side = -side
    plan["bars"] = math.ceil(SECONDS * plan["bpm"] / 240)
    plan["render_seed"] = rng.randrange(2**31)
    return plan


def chord_at(plan, bar):
    """Scale degrees (0-based) of the chord played in a bar."""
    root = plan["progression"][bar % len(plan["progression"])]
    return [root + i for i in ((0, 2, 4, 6) if plan["sevenths"] else (0, 2, 4))]


def degree_pitch(plan, degree, base):
    octave, d = divmod(degree, 7)
    return base + plan["tonic"] + plan["scale"][d] + 12 * octave


def voicing(plan, bar, low):
    """The bar's chord as MIDI notes inside [low, low + 12)."""
    return sorted(low + (degree_pitch(plan, d, 0) - low) % 12 for d in chord_at(plan, bar))


# ---------------------------------------------------------------------------------------------
# MIDI parts (one file per part, so that every stem is rendered on its own).

class Part:
    def __init__(self, channel=0, program=None):
        self.channel = channel
        self.events = []  # (tick, message)
        if program is not None:
            self.events.append((0, mido.Message("program_change", channel=channel, program=program)))

    def note(self, pitch, start, length, velocity):
        velocity = max(1, min(127, int(velocity)))
        self.events.append((start, mido.Message("note_on", channel=self.channel, note=pitch, velocity=velocity)))
        self.events.append((start + length, mido.Message("note_off", channel=self.channel, note=pitch)))

    def save(self, path, bpm):
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
        last = 0
        for tick, msg in sorted(self.events, key=lambda e: (e[0], e[1].type == "note_on")):
            track.append(msg.copy(time=tick - last))
            last = tick
        # End the file at the song's end, so that fluidsynth renders it all (lengths are fixed later).
        end = int(SECONDS * bpm / 60 * TPB)
        track.append(mido.MetaMessage("end_of_track", time=max(0, end - last)))
        mid = mido.MidiFile(ticks_per_beat=TPB)
        mid.tracks.append(track)
        mid.save(path)


def drum_part(plan, rng):
    part = Part(channel=9)
    groove = GROOVES[plan["groove"]]
    for bar in range(plan["bars"]):
        t0 = bar * 16 * STEP
        fill = bar % 4 == 3 and rng.random() < 0.7
        for drum, steps in groove.items():
            for s in steps:
                if fill and s >= 12 and drum != 36:
                    continue
                accent = 100 if drum in (36, 38) else 75 if s % 4 == 0 else 60
                part.note(drum, t0 + s * STEP, STEP, accent + rng.randint(-8, 8))
        if fill:  # the last beat: a sixteenth run down the toms
            for k, s in enumerate(range(12, 16)):
                part.note(FILL_DRUMS[min(k + rng.randint(0, 2), len(FILL_DRUMS) - 1)], t0 + s * STEP, STEP,
                          90 + rng.randint(-8, 8))
        if bar % 4 == 0:
            part.note(49, t0, 8 * STEP, 100)
    return part


def bass_part(plan, rng):
    part = Part(channel=0, program=plan["bass_program"])
    base = 36 if plan["tonic"] < 5 else 24  # roots between F1 and E2
    for bar in range(plan["bars"]):
        t0 = bar * 16 * STEP
        root = chord_at(plan, bar)[0]
        hits = plan["bass_rhythm"]
        for k, s in enumerate(hits):
            end = hits[k + 1] if k + 1 < len(hits) else 16
            pitch = degree_pitch(plan, root, base)
            if k > 0 and rng.random() < 0.25:
                pitch += rng.choice([7, 12])  # fifth or octave
            part.note(pitch, t0 + s * STEP, (end - s) * STEP - 20, 95 + rng.randint(-10, 5))
    return part


def other_part(plan, spec, rng):
    part = Part(channel=0, program=spec["program"])
    style = spec["style"]
    for bar in range(plan["bars"]):
        t0 = bar * 16 * STEP
        chord = voicing(plan, bar, 52 if spec["kind"] != "piano" else 55)
        if style == "block":
            for p in chord:
                part.note(p, t0, 16 * STEP - 10, 65)
        elif style == "comp":
            hits = COMP_RHYTHMS[bar % 2 * 2 + rng.randint(0, 1)]
            for s in hits:
                for p in chord:
                    part.note(p, t0 + s * STEP, 2 * STEP, 70 + rng.randint(-8, 8))
        elif style == "strum":
            for s in range(0, 16, 2):
                down = s % 4 == 0
                order = chord if down else chord[::-1]
                for k, p in enumerate(order):  # a strum: strings a few ms apart
                    part.note(p, t0 + s * STEP + 12 * k, 2 * STEP - 12 * k, (80 if down else 62) + rng.randint(-6, 6))
        else:  # arpeggio in eighths over two octaves
            notes = chord + [p + 12 for p in chord]
            for k, s in enumerate(range(0, 16, 2)):
                part.note(notes[k % len(notes)], t0 + s * STEP, 2 * STEP, 70 + rng.randint(-8, 8))
    return part


def render(midi_path, wav_path, soundfont):
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", "44100", "-F", wav_path, soundfont, midi_path],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def fit(x, n):
    """Trim or zero-pad along the first axis to n samples."""
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros((n - len(x),) + x.shape[1:], x.dtype)])


def render_part(part, plan, name, src, tmp):
    """Render a Part to a (samples, 2) float64 array of the song's length."""
    mid = os.path.join(src, f"{name}.mid")
    part.save(mid, plan["bpm"])
    wav = os.path.join(tmp, f"{name}.wav")
    render(mid, wav, plan["font"])
    y, sr = sf.read(wav, dtype="float64", always_2d=True)
    assert sr == SR and y.shape[1] == 2, (wav, sr, y.shape)
    return fit(y, int(SECONDS * SR))


def pan(mono, position):
    """Constant-power pan of a mono signal, position -1 (left) .. 1 (right)."""
    angle = (position + 1) * math.pi / 4
    return np.stack([mono * math.cos(angle), mono * math.sin(angle)], axis=1)


# ---------------------------------------------------------------------------------------------
# Vocals: espeak-ng speech, re-timed and re-pitched syllable by syllable with WORLD.

def speak(text, voice, path):
    subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", path, text], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    x, fs = sf.read(path, dtype="float64")
    return x, fs


def syllables(f0, sp):
    """Syllable nuclei (start, end) in WORLD frames: voiced, loud runs, split at energy dips.

    Voicing comes from DIO (pyworld.wav2world): HARVEST calls espeak's female voices voiced
    almost everywhere, silence included, and jumps octaves.
    """
    energy = 10 * np.log10(sp.sum(axis=1) + 1e-30)
    energy = np.convolve(energy, np.ones(5) / 5, mode="same")
    voiced = (f0 > 0) & (energy > energy.max() - 30)
    edges = np.diff(np.r_[0, voiced.astype(int), 0])
    nuclei = []
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        if b - a < 6:  # under 30 ms: a voiced consonant, leave it in the gap
            continue
        # Voiced consonants join syllables into one run ("in the morning"): cut at energy dips.
        dips, _ = scipy.signal.find_peaks(-energy[a:b], prominence=4, distance=12)
        cuts = [a] + [a + d for d in dips if 10 <= d <= b - a - 10] + [b]
        nuclei += list(zip(cuts[:-1], cuts[1:]))
    return nuclei


def melody(plan, rng, count, slot_bar, span, pitch_range, previous):
    """count notes (onset step, length in steps, MIDI pitch) inside the first `span` sixteenths
    of a phrase starting at slot_bar; steps to neighbouring scale degrees, chord tones on
    beats 1 and 3."""
    base = 2 if 2 * count <= span else 1
    lengths = [base] * count
    target = rng.randint(max(sum(lengths), span * 2 // 3), max(sum(lengths), span))
    while sum(lengths) < target:
        k = rng.randrange(count) if rng.random() < 0.7 else count - 1
        lengths[k] += base
    low, high = pitch_range
    in_range = [p for p in range(low, high + 1) if (p - plan["tonic"]) % 12 in plan["scale"]]
    current = previous if previous in in_range else in_range[len(in_range) // 2]
    notes, onset = [], 0
    for length in lengths:
        move = rng.choice([-2, -1, -1, 0, 1, 1, 2])
        i = in_range.index(current) + move
        if not 0 <= i < len(in_range):  # at the edge of the range: turn back
            i -= 2 * move
        pitch = in_range[i]
        if onset % 8 == 0:  # on beats 1 and 3: move to the nearest tone of the bar's chord
            tones = {degree_pitch(plan, d, 0) % 12 for d in chord_at(plan, slot_bar + onset // 16)}
            pitch = min((p for p in in_range if p % 12 in tones), key=lambda p: abs(p - pitch))
        notes.append((onset, length, pitch))
        current, onset = pitch, onset + length
    return notes


def sing(world, nuclei, notes, step_sec, lead, time0, vibrato):
    """Re-time and re-pitch analysed speech: syllable k's vowel starts on note k's onset and is
    held until the next syllable's consonants; its f0 becomes the note's pitch.

    world: (f0, sp, ap) of the speech; time0: song time of output frame 0 (for vibrato phase).
    Returns (f0, sp, ap) for WORLD synthesis."""
    f0, sp, ap = world
    fp = FRAME / 1000
    cap = 30  # keep at most 150 ms of unvoiced sound (consonants) between syllables

    def gap(start, end, first):
        frames = np.arange(start, end)
        if len(frames) > cap:  # a pause: keep the consonants next to the syllables
            frames = frames[-cap:] if first else np.r_[frames[:10], frames[-(cap - 10):]]
        return frames

    def frame_at(step):
        return int(round((lead + step * step_sec) / fp))

    size = frame_at(notes[-1][0] + notes[-1][1]) + len(f0) + 100
    position = np.full(size, -1.0)  # source frame for each output frame, -1 for silence
    pitch = np.zeros(size)  # MIDI pitch, 0 where unvoiced
    onset_frame = np.zeros(size)
    cursor, previous_end = 0, 0
    for k, ((a, b), (onset, length, note)) in enumerate(zip(nuclei, notes)):
        consonants = gap(previous_end, a, k == 0)
        start = max(cursor, frame_at(onset) - len(consonants))
        position[start:start + len(consonants)] = consonants
        vowel = start + len(consonants)
        if k + 1 < len(notes):
            end = frame_at(notes[k + 1][0]) - len(gap(b, nuclei[k + 1][0], False))
        else:
            end = frame_at(onset + length)
        end = max(end, vowel + max(4, (b - a) // 2))
        position[vowel:end] = np.linspace(a, b - 1, end - vowel)
        pitch[vowel:end] = note
        onset_frame[vowel:end] = vowel
        cursor, previous_end = end, b
    tail = np.arange(previous_end, min(len(f0), previous_end + cap))
    position[cursor:cursor + len(tail)] = tail
    size = cursor + len(tail) + 20
    position, pitch, onset_frame = position[:size], pitch[:size], onset_frame[:size]

    # Glide into each note from the one before when they are joined (legato), then vibrato
    # that fades in after the note's first 120 ms.
    curve = pitch.copy()
    for i in range(1, size):
        if pitch[i] and pitch[i - 1] and pitch[i] != pitch[i - 1]:
            g = min(8, np.count_nonzero(onset_frame == onset_frame[i]) // 3)
            w = 0.5 - 0.5 * np.cos(np.pi * np.arange(g) / max(g, 1))
            curve[i:i + g] = pitch[i - 1] + (pitch[i] - pitch[i - 1]) * w
    rate, depth = vibrato
    held = (np.arange(size) - onset_frame) * fp
    fade = np.clip((held - 0.12) / 0.25, 0, 1)
    curve += depth * fade * np.sin(2 * np.pi * rate * (time0 + np.arange(size) * fp))
    out_f0 = np.where(pitch > 0, 440 * 2 ** ((curve - 69) / 12), 0.0)

    # Spectral envelope and aperiodicity at fractional source frames (log-linear for sp).
    sound = position >= 0
    lo = np.floor(np.maximum(position, 0)).astype(int)
    hi = np.minimum(lo + 1, len(f0) - 1)
    w = (np.maximum(position, 0) - lo)[:, None]
    log_sp = np.log(sp + 1e-30)
    out_sp = np.exp((1 - w) * log_sp[lo] + w * log_sp[hi])
    out_ap = (1 - w) * ap[lo] + w * ap[hi]
    out_sp[~sound] = sp.min() * 1e-3
    out_ap[~sound] = 1.0
    return (np.ascontiguousarray(out_f0), np.ascontiguousarray(out_sp), np.ascontiguousarray(out_ap))


def vocal_stem(plan, rng, src):
    n = int(SECONDS * SR)
    dry = np.zeros(n)
    bar_sec = 240 / plan["bpm"]
    step_sec = bar_sec / 16
    lead = 0.3  # seconds of output before the phrase's first onset (its first consonants)
    previous = None
    for slot_bar in range(plan["intro_bars"], plan["bars"], 2):  # a phrase every two bars
        if slot_bar * bar_sec + 1.5 > SECONDS or rng.random() < 0.2:
            continue
        line = rng.choice(LYRICS)
        speech, fs = speak(line, plan["voice"], os.path.join(src, f"vocal{slot_bar:02}.wav"))
        f0, sp, ap = pyworld.wav2world(speech, fs, frame_period=FRAME)
        nuclei = syllables(f0, sp)
        if not nuclei:
            continue
        span = rng.choice([20, 24, 28])  # sixteenths sung out of the 32 of the slot
        notes = melody(plan, rng, len(nuclei), slot_bar, span, VOICES[plan["voice"]], previous)
        previous = notes[-1][2]
        start = slot_bar * bar_sec - lead
        world = sing((f0, sp, ap), nuclei, notes, step_sec, lead, start, plan["vibrato"])
        y = pyworld.synthesize(*world, fs, frame_period=FRAME)
        y = librosa.resample(y, orig_sr=fs, target_sr=SR)
        i = int(round(start * SR))
        y = y[: n - i]
        dry[i:i + len(y)] += y
    stem = pan(dry, 0.0)
    if plan["reverb"]:
        stem += reverb(dry, *plan["reverb"], np.random.default_rng(plan["render_seed"]))
    return stem


def reverb(dry, rt60, level_db, nrng):
    """A short stereo tail: the dry vocal convolved with exponentially decaying noise (a
    different noise per channel), 15 ms pre-delay, at level_db relative to the dry sound."""
    t = np.arange(int(rt60 * SR)) / SR
    channels = []
    for _ in range(2):
        ir = nrng.standard_normal(len(t)) * 10 ** (-3 * t / rt60)
        ir = np.r_[np.zeros(int(0.015 * SR)), ir / np.sqrt(np.sum(ir**2))]
        channels.append(scipy.signal.fftconvolve(dry, ir)[: len(dry)])
    return 10 ** (level_db / 20) * np.stack(channels, axis=1)


# ---------------------------------------------------------------------------------------------
# A whole song.

def level(x):
    """Playing level: the 90th percentile of 400 ms RMS (stems are silent part of the time)."""
    block = int(0.4 * SR)
    frames = x[: len(x) // block * block].reshape(-1, block * x.shape[1])
    return np.percentile(np.sqrt(np.mean(frames**2, axis=1)), 90) + 1e-12


def render_song(plan, folder):
    rng = random.Random(plan["render_seed"])
    src = os.path.join(folder, "src")  # MIDI files and spoken lines, for listening and debugging
    os.makedirs(src, exist_ok=True)
    os.makedirs(os.path.join(folder, "stems"), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        drums = render_part(drum_part(plan, rng), plan, "drums", src, tmp)
        bass = render_part(bass_part(plan, rng), plan, "bass", src, tmp)
        other = 0
        for k, spec in enumerate(plan["others"]):
            y = render_part(other_part(plan, spec, rng), plan, f"other{k}_{spec['kind']}", src, tmp)
            mono = y.mean(axis=1)
            other = other + pan(mono, spec["pan"]) * 10 ** (spec["gain"] / 20) / level(mono[:, None])
    stems = {
        "vocals": vocal_stem(plan, rng, src),
        "drums": drums,
        "bass": bass,
        "other": other / level(other),
    }
    for name in ("vocals", "drums", "bass"):
        stems[name] = stems[name] * 10 ** (plan["gains"][name] / 20) / level(stems[name])
    peak = np.max(np.abs(sum(stems.values())))
    stems = {k: (v * 0.89 / peak).astype(np.float32) for k, v in stems.items()}
    mix = stems["vocals"] + stems["drums"] + stems["bass"] + stems["other"]  # exact float32 sum
    for name, y in stems.items():
        sf.write(os.path.join(folder, "stems", f"{name}.wav"), y, SR, subtype="FLOAT")
    sf.write(os.path.join(folder, "mix.wav"), mix, SR, subtype="FLOAT")


def song_ready(folder):
    return all(os.path.exists(os.path.join(folder, p))
               for p in ["mix.wav"] + [f"stems/{s}.wav" for s in STEMS])


# ---------------------------------------------------------------------------------------------
# Separation and scoring.

N_FFT, HOP = 4096, 1024


def hpss_repet(path):
    """The baseline: four stems from HPSS and a REPET-SIM vocal mask, per channel."""
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    stems = {s: np.zeros_like(y) for s in STEMS}
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
    low = (1 / (1 + (freqs / 250) ** 4))[:, None]  # smooth low-pass weight, -3 dB at 250 Hz
    width = int(librosa.time_to_frames(2, sr=sr, hop_length=HOP))
    for c in range(y.shape[1]):
        spec = librosa.stft(y[:, c], n_fft=N_FFT, hop_length=HOP)
        mag, phase = np.abs(spec), np.exp(1j * np.angle(spec))
        harmonic, percussive = librosa.decompose.hpss(mag)
        repeating = librosa.decompose.nn_filter(mag, aggregate=np.median, metric="cosine", width=width)
        repeating = np.minimum(mag, repeating)
        mask_vocal = librosa.util.softmask(mag - repeating, 10 * repeating, power=2)
        mask_background = librosa.util.softmask(repeating, 2 * (mag - repeating), power=2)

        def back(m):
            return librosa.istft(m * phase, n_fft=N_FFT, hop_length=HOP, length=len(y))

        stems["vocals"][:, c] = back(mask_vocal * harmonic)
        stems["bass"][:, c] = back(low * mask_background * harmonic)
        stems["drums"][:, c] = back(percussive)
    stems["other"] = y - stems["vocals"] - stems["drums"] - stems["bass"]
    return stems


def sdr(reference, estimate):
    s = reference[SR:-SR].astype(np.float64)
    e = s - estimate[SR:-SR].astype(np.float64)
    return 10 * math.log10((np.sum(s**2) + 1e-9) / (np.sum(e**2) + 1e-9))


def read_stems(folder):
    return {s: sf.read(os.path.join(folder, f"{s}.wav"), dtype="float32", always_2d=True)[0] for s in STEMS}


def scores(truth, estimate):
    out = {}
    for s in STEMS:
        e = estimate[s]
        assert e.shape == truth[s].shape, (s, e.shape, truth[s].shape)
        out[s] = sdr(truth[s], e)
    return out


def row(label, values):
    cells = [values[s] for s in STEMS]
    return f"{label:<12}" + "".join(f"{v:7.2f}" for v in cells + [sum(cells) / len(cells)])


def main():
    cli, work = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    fonts = [f for f in SOUNDFONTS if os.path.exists(f)]
    if not fonts:
        sys.exit("no GM soundfont installed (apt-get install fluid-soundfont-gm timgm6mb-soundfont)")
    os.makedirs(work, exist_ok=True)
    plans = [plan_song(i, fonts) for i in range(count)]
    start = time.perf_counter()
    rendered = 0
    for plan in plans:
        folder = os.path.join(work, plan["name"])
        if not song_ready(folder):
            render_song(plan, folder)
            rendered += 1
    render_time = time.perf_counter() - start

    ours_time = base_time = seconds = 0.0
    ours_sum = {s: 0.0 for s in STEMS}
    base_sum = {s: 0.0 for s in STEMS}
    lines = []
    for plan in plans:
        folder = os.path.join(work, plan["name"])
        mix = os.path.join(folder, "mix.wav")
        out = os.path.join(folder, "mixsmith")
        seconds += sf.info(mix).duration
        truth = read_stems(os.path.join(folder, "stems"))

        start = time.perf_counter()
        run = subprocess.run([cli, "separate", mix, "-o", out, "--float", "--json"], capture_output=True)
        ours_time += time.perf_counter() - start
        if run.returncode != 0:
            sys.exit(f"mixsmith separate failed on {mix}:\n{run.stderr.decode(errors='replace')}")
        ours = scores(truth, read_stems(out))

        start = time.perf_counter()
        base_stems = hpss_repet(mix)
        base_time += time.perf_counter() - start
        base = scores(truth, base_stems)

        for s in STEMS:
            ours_sum[s] += ours[s]
            base_sum[s] += base[s]
        parts = "+".join(f"{o['kind']}{o['program']}" for o in plan["others"])
        lines.append(f"  {plan['name']} {plan['bpm']:5.1f} BPM {os.path.basename(plan['font']):<22} "
                     f"{plan['voice']:<9} {parts:<18} mixsmith "
                     + " ".join(f"{ours[s]:6.2f}" for s in STEMS)
                     + "   hpss+repet " + " ".join(f"{base[s]:6.2f}" for s in STEMS))
    n = len(plans)
    ratio = base_time / ours_time
    if rendered:
        print(f"rendered {rendered} songs into {work} in {render_time:.0f} s")
    print(f"separate bench: {n} songs, {len(fonts)} soundfonts, {seconds / n:.0f} s each")
    print(f"{'SDR dB':<12}" + "".join(f"{s:>7}" for s in STEMS + ("mean",)))
    print(row("mixsmith", {s: v / n for s, v in ours_sum.items()}))
    print(row("hpss+repet", {s: v / n for s, v in base_sum.items()}))
    print(f"seconds per song: mixsmith separate (process) {ours_time / n:.3f} "
          f"({seconds / ours_time:.0f}x real time), hpss+repet {base_time / n:.3f} "
          + (f"({ratio:.1f}x slower)" if ratio >= 1 else f"({1 / ratio:.1f}x faster)"))
    print("per song (SDR dB: vocals drums bass other):")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
