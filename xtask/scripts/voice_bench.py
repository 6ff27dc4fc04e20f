#!/usr/bin/env python3
"""Voice conversion bench: a parallel set with known answers, `mixsmith voice` against a WORLD baseline.

The set (written once into WORK_DIR and reused): songs whose melody and lyrics are sung by two
voices, A and B, so that converting A's take to B's voice has a known answer (B's take) and a
known melody (the notes):

- voice A: flite's `slt` voice (a statistical parametric US English voice), formants x0.85
  (darker), clear (aperiodicity of voiced frames x0.3); voice B: espeak-ng's `en-us+m3` (a formant synthesizer),
  formants x1.15 (brighter), breathy (aperiodicity raised by 40 % of what it lacks to 1 above
  4 kHz, less below);
- each word of a lyric line is spoken on its own by the synthesizer (cached in WORK_DIR/words),
  analysed with the WORLD vocoder (pyworld: DIO + StoneMask, CheapTrick, D4C) and put on its
  note: its consonants before the note's onset, its voiced part stretched (inner unvoiced frames
  kept at their length) until the next word's consonants or the note's end, then its coda; the
  spectral envelope is moved onto the 44.1 kHz grid (extrapolated above the synthesizer's band at
  -12 dB/octave), warped by the voice's formant scale (envelope(f / scale)), the aperiodicity
  raised by the voice's breathiness, and WORLD resynthesises it with the melody's F0 wherever the
  word is voiced and has a periodic part (D4C calls some frames of voiced fricatives wholly
  aperiodic, which WORLD renders as noise at any F0: the truth is unvoiced there): the notes with short legato glides and a vibrato that fades in (the same for
  both voices);
- melodies: one note per word, stepwise in the song's key inside a range both voices sing
  (MIDI 50-69), tempo 76-126 BPM, phrases of one lyric line with rests between them, ~20 s;
- for each song, a different song (other lyrics, melody, key and tempo, ~24 s) sung by each voice
  is the cloning reference of that voice (WORK_DIR/songNN/ref_A.wav, ref_B.wav);
- WORK_DIR/songNN/truth.json: the notes, the melody contour and the F0 each voice was sung with,
  per 5 ms frame.

Then, for each song and each direction (A->B: A's take with B's reference, scored against B's
take; B->A the other way round):

- no conversion (the source itself): the upper bound of the distortion;
- the baseline, in this warm Python: WORLD analysis of the reference (its mean log spectral
  envelope over voiced frames) and of the input; the input's envelope warped on the frequency
  axis by the factor that best fits its mean to the reference's (searched over 0.7-1.43), then
  every frame multiplied by the smoothed ratio of the two means; the input's F0 and aperiodicity
  kept; resynthesised. Also "mean EQ only" (the same without the warp) for reference;
- `mixsmith voice clone REF -o VOICE.json` and `mixsmith voice convert IN --voice VOICE.json -o
  OUT.wav` (the DSP default), timed as whole processes, when the CLI has `voice`.

Metrics (frames of 5 ms; a converted file is first aligned to its input by the lag, within
+-100 ms, that best correlates their frame energies):
- F0 RMSE in cents of the output against the F0 the source was sung with, over frames voiced in
  both, and the share of those frames more than a semitone off (a few such frames make most of
  the RMSE). The output's F0: DIO + StoneMask's voicing, 60-1000 Hz,
  each voiced frame's value then chosen by a harmonic contrast (harmonics 1-8 against the gaps
  between them) within +-1800 cents of DIO's value (a margin for DIO's own +-100 cents; the
  octave decided over +-20 ms of the voiced run, so a weak fundamental is no octave error, a real
  octave slip still is), then the median over +-2 frames of the same voiced run (drops lone
  spikes). The no-conversion row is this tracker's error on the source itself: the floor of the
  measurement (7-19 cents a song on seeds 20261203 and 7);
- mel-cepstral distortion against the target voice singing the same song: 10/ln10 *
  sqrt(2 * sum (mc_d - mc'_d)^2) over the mel-cepstral coefficients 1-24 (pysptk sp2mc of the
  CheapTrick envelope, all-pass constant 0.544 for 44.1 kHz), frames voiced in both;
- seconds per minute of audio: clone (per minute of reference) and convert (per minute of input);
- when the CLI has `voice pitch`: its F0 track against the truth on the unconverted takes, beside
  DIO + StoneMask (RMSE in cents, voiced frames found, unvoiced frames called voiced).

Usage: voice_bench.py MIXSMITH_CLI WORK_DIR [SONGS [SEED]]   (default 8 songs)
Needs: apt: espeak-ng, flite, g++ (pyworld and pysptk build from source); in this Python: numpy,
scipy, soundfile, librosa, mido (separate_bench.py, whose lyric lines are sung here, imports it),
pyworld==0.3.5, pysptk==1.0.1.
"""

import json
import math
import os
import random
import re
import subprocess
import sys
import time

import librosa
import numpy as np
import pysptk
import pyworld
import soundfile as sf
from separate_bench import LYRICS as SEPARATE_LYRICS

SR = 44100
FRAME = 5.0  # WORLD frame period, ms
FP = FRAME / 1000
FFT = pyworld.get_cheaptrick_fft_size(SR)
BINS = FFT // 2 + 1
FREQS = np.arange(BINS) * SR / FFT
F0_MIN, F0_MAX = 60.0, 1000.0
MCEP_ORDER = 24
MCEP_ALPHA = pysptk.util.mcepalpha(SR)
RENDER_VERSION = "voice-bench-3"
# A frame whose aperiodicity at 0 Hz reaches this has no periodic part in WORLD's synthesis.
PERIODIC_AP = 0.999
# Envelope slope above a synthesizer's band, natural log of power per octave (-12 dB/octave).
TAIL_SLOPE = -1.2 * math.log(10)

VOICES = {
    "A": dict(synth="flite", voice="slt", formant=0.85, aperiodicity=0.3, breath=0.0,
              label="flite slt, formants x0.85, clear (aperiodicity x0.3)"),
    "B": dict(synth="espeak-ng", voice="en-us+m3", formant=1.15, aperiodicity=1.0, breath=0.4,
              label="espeak-ng en-us+m3, formants x1.15, breathy (+40 % noise, rising to 4 kHz)"),
}
DIRECTIONS = (("A", "B"), ("B", "A"))
MAJOR_SCALE = [0, 2, 4, 5, 7, 9, 11]
MINOR_SCALE = [0, 2, 3, 5, 7, 8, 10]
NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
# The separation bench's lyric lines and a few more.
LYRICS = SEPARATE_LYRICS + [
    "find a way to bring me home", "sing it loud and sing it true", "golden fields of yellow corn",
    "river running to the sea", "hear the bells across the town", "light a candle in the snow",
]


# ---------------------------------------------------------------------------------------------
# Song plans: everything random about a song, drawn from its own generator.

def syllable_count(word):
    groups = re.findall(r"[aeiouy]+", word.lower())
    n = len(groups)
    if n > 1 and word.lower().endswith("e") and not word.lower().endswith(("le", "ee")):
        n -= 1
    return max(1, n)


def plan_song(name, seed, seconds):
    """A melody with lyrics: one note per word, phrases of one lyric line, rests between them."""
    rng = random.Random(f"{seed}/{name}")
    minor = rng.random() < 0.4
    scale = MINOR_SCALE if minor else MAJOR_SCALE
    tonic = rng.randrange(12)
    bpm = round(rng.uniform(76, 126), 1)
    low = rng.randint(50, 55)
    high = low + 14
    in_range = [p for p in range(low, high + 1) if (p - tonic) % 12 in scale]
    tonic_tones = [p for p in in_range if (p - tonic) % 12 in (0, scale[2], 7)]
    eighth = 30 / bpm
    lines = rng.sample(LYRICS, len(LYRICS))
    notes, t, k = [], 0.4, 0
    current = rng.choice(tonic_tones[len(tonic_tones) // 4: 3 * len(tonic_tones) // 4 + 1])
    while t < seconds - 2.5:
        words = lines[k % len(lines)].split()
        k += 1
        for i, word in enumerate(words):
            last = i == len(words) - 1
            length = rng.choice([3, 4]) if last else max(syllable_count(word), rng.choice([1, 1, 2, 2, 3]))
            if i == 0:
                pitch = current
            elif last:  # phrase ends on a tone of the tonic chord near the last note
                pitch = min(tonic_tones, key=lambda p: (abs(p - current), rng.random()))
            else:
                j = in_range.index(current) + rng.choice([-2, -1, -1, 0, 1, 1, 2])
                if not 0 <= j < len(in_range):
                    j = in_range.index(current) - (j - in_range.index(current))
                pitch = in_range[j]
            notes.append(dict(word=word, onset=round(t, 4), duration=round(length * eighth, 4), midi=pitch))
            current = pitch
            t += length * eighth
        t += rng.choice([2, 3, 4]) * eighth  # rest
    return dict(name=name, bpm=bpm, tonic=tonic, minor=minor, range=[low, high], notes=notes,
                vibrato=[round(rng.uniform(4.8, 6.2), 3), round(rng.uniform(0.15, 0.35), 3)],
                seconds=round(notes[-1]["onset"] + notes[-1]["duration"] + 0.6, 3))


def key_name(plan):
    return f"{NAMES[plan['tonic']]} {'minor' if plan['minor'] else 'major'}"


def melody_contour(plan, frames):
    """MIDI pitch per frame (0 outside notes): the notes, a 40 ms glide into a note that follows
    another without a gap, and a vibrato fading in from 150 ms into each note."""
    pitch = np.zeros(frames)
    held = np.zeros(frames)
    rate, depth = plan["vibrato"]
    previous_end, previous_pitch = None, None
    for note in plan["notes"]:
        a = int(round(note["onset"] / FP))
        b = min(frames, int(round((note["onset"] + note["duration"]) / FP)))
        pitch[a:b] = note["midi"]
        held[a:b] = np.arange(b - a) * FP
        if previous_end == a and previous_pitch != note["midi"]:
            g = min(8, b - a)
            w = 0.5 - 0.5 * np.cos(np.pi * np.arange(g) / 8)
            pitch[a:a + g] = previous_pitch + (note["midi"] - previous_pitch) * w
        previous_end, previous_pitch = b, note["midi"]
    fade = np.clip((held - 0.15) / 0.25, 0, 1)
    vibrato = depth * fade * np.sin(2 * np.pi * rate * np.arange(frames) * FP)
    return np.where(pitch > 0, pitch + vibrato, 0.0)


# ---------------------------------------------------------------------------------------------
# Words: spoken once per voice by its synthesizer, analysed with WORLD, moved onto the output grid.

def speak(voice, word, folder):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, re.sub(r"[^a-z0-9]", "_", word.lower()) + ".wav")
    if not os.path.exists(path):
        tmp = path + ".tmp.wav"
        if voice["synth"] == "flite":
            command = ["flite", "-voice", voice["voice"], "-t", word, "-o", tmp]
        else:
            command = ["espeak-ng", "-v", voice["voice"], "-s", "140", "-w", tmp, word]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.replace(tmp, path)
    x, fs = sf.read(path, dtype="float64")
    return x if x.ndim == 1 else x.mean(axis=1), fs


def grid_map(fs, scale):
    """Where each output bin reads the source envelope: (index, weight, octaves above the cut-off)
    for the source frequency f / scale on a CheapTrick grid of a signal at fs."""
    fft = pyworld.get_cheaptrick_fft_size(fs)
    cut = 0.9 * fs / 2
    query = FREQS / scale
    position = np.minimum(query, cut) * fft / fs
    index = np.minimum(np.floor(position).astype(int), fft // 2 - 1)
    above = np.log2(np.maximum(query, cut) / cut)
    return index, position - index, above, int(cut * fft / fs)


class Word:
    """One word of one voice on the 44.1 kHz grid: log envelope, aperiodicity, voicing per frame."""

    def __init__(self, voice, word, folder):
        x, fs = speak(voice, word, folder)
        f0, t = pyworld.dio(x, fs, f0_floor=F0_MIN, f0_ceil=F0_MAX, frame_period=FRAME)
        f0 = pyworld.stonemask(x, f0, t, fs)
        sp = pyworld.cheaptrick(x, f0, t, fs)
        ap = pyworld.d4c(x, f0, t, fs)
        energy = 10 * np.log10(sp.sum(axis=1) + 1e-30)
        loud = np.flatnonzero(energy > energy.max() - 45)
        a, b = max(0, loud[0] - 2), min(len(f0), loud[-1] + 3)
        f0, sp, ap, energy = f0[a:b], sp[a:b], ap[a:b], energy[a:b]
        voiced = (f0 > 0) & (energy > energy.max() - 30)
        if not voiced.any():
            voiced = energy > energy.max() - 12
        index, weight, above, cut = grid_map(fs, voice["formant"])
        log_sp = np.log(sp + 1e-30)
        edge = log_sp[:, int(cut * 0.85):cut + 1].mean(axis=1, keepdims=True)
        warped = (1 - weight) * log_sp[:, index] + weight * log_sp[:, index + 1]
        warped = np.where(above > 0, edge + TAIL_SLOPE * above, warped)
        # Each word at the same level: its loudest voiced frames at a fixed power.
        power = np.log(np.exp(warped[voiced]).sum(axis=1))
        warped -= np.percentile(power, 90)
        # Aperiodicity stays on the source's frequency axis (it belongs to the excitation).
        index, weight, _, _ = grid_map(fs, 1.0)
        ap = (1 - weight) * ap[:, index] + weight * ap[:, index + 1]
        # A clear voice: less aperiodicity in its voiced frames; a breathy one: more, most above
        # 1 kHz (unvoiced frames are noise in WORLD whatever their aperiodicity).
        ap[voiced] = np.minimum(1.0, ap[voiced] * voice["aperiodicity"])
        ramp = np.clip(0.3 + 0.7 * FREQS / 4000, 0, 1)
        self.ap = 1 - (1 - ap) * (1 - voice["breath"] * ramp)
        self.log_sp = warped
        self.voiced = voiced
        self.first = int(np.flatnonzero(voiced)[0])
        self.last = int(np.flatnonzero(voiced)[-1])
        self.frames = len(f0)


def sing(plan, voice, words):
    """Renders a song plan with one voice; returns (audio, f0 per frame, melody contour per frame)."""
    cap = 24  # at most 120 ms of consonants before and after a word's voiced part
    frames = int(round(plan["seconds"] / FP)) + 1
    contour = melody_contour(plan, frames)
    log_sp = np.full((frames, BINS), -60.0)
    ap = np.ones((frames, BINS))
    f0 = np.zeros(frames)
    notes = plan["notes"]
    for k, note in enumerate(notes):
        w = words[note["word"]]
        pre = min(w.first, cap)
        post = min(w.frames - 1 - w.last, cap)
        onset = int(round(note["onset"] / FP))
        end = int(round((note["onset"] + note["duration"]) / FP))
        if k + 1 < len(notes) and abs(notes[k + 1]["onset"] - note["onset"] - note["duration"]) < 1e-3:
            nxt = words[notes[k + 1]["word"]]
            end -= min(nxt.first, cap)
        end = max(end - post, onset + 8)
        # Source frame for each output frame: consonants at their own speed, the voiced part
        # stretched (its inner unvoiced frames kept at their length).
        core = np.arange(w.first, w.last + 1)
        unvoiced = ~w.voiced[core]
        length = end - onset
        rate = max(length - unvoiced.sum(), 1) / max((~unvoiced).sum(), 1)
        step = np.where(unvoiced, 1.0, rate)
        edges = np.r_[0, np.cumsum(step)] * length / step.sum()
        position = np.interp(np.arange(length) + 0.5, edges, np.r_[core, core[-1] + 1]) - 0.5
        position = np.r_[np.arange(w.first - pre, w.first), np.clip(position, w.first, w.last),
                         np.arange(w.last + 1, w.last + 1 + post)]
        start = onset - pre
        out = np.arange(start, start + len(position))
        keep = (out >= 0) & (out < frames)
        out, position = out[keep], position[keep]
        lo = np.floor(position).astype(int)
        hi = np.minimum(lo + 1, w.frames - 1)
        frac = (position - lo)[:, None]
        log_sp[out] = (1 - frac) * w.log_sp[lo] + frac * w.log_sp[hi]
        ap[out] = (1 - frac) * w.ap[lo] + frac * w.ap[hi]
        # Sung where the word is voiced and WORLD gives the frame a periodic part: D4C calls some
        # frames of voiced fricatives wholly aperiodic (1.0), which WORLD renders as noise at
        # any F0, so they carry no pitch and the truth must not claim one there.
        sung = w.voiced[np.round(position).astype(int)] & (ap[out, 0] < PERIODIC_AP) & (contour[out] > 0)
        f0[out] = np.where(sung, 440 * 2 ** ((contour[out] - 69) / 12), 0.0)
    y = pyworld.synthesize(np.ascontiguousarray(f0), np.ascontiguousarray(np.exp(log_sp)),
                           np.ascontiguousarray(ap), SR, frame_period=FRAME)
    y *= 10 ** (-20 / 20) / (np.sqrt(np.mean(y[np.abs(y) > 1e-4] ** 2)) + 1e-12)  # -20 dBFS RMS
    y *= min(1.0, 0.89 / np.max(np.abs(y)))
    return y.astype(np.float32), f0, contour


def render_set(work, count, seed):
    """Renders the songs not already in WORK_DIR; returns their folders and how many were made."""
    folders, rendered = [], 0
    cache = {key: {} for key in VOICES}
    for i in range(count):
        name = f"song{i:02}"
        folder = os.path.join(work, name)
        folders.append(folder)
        plan = plan_song(name, seed, 20.0)
        reference = plan_song(f"ref{i:02}", seed, 24.0)
        truth_path = os.path.join(folder, "truth.json")
        files = [f"{key}.wav" for key in VOICES] + [f"ref_{key}.wav" for key in VOICES]
        if os.path.exists(truth_path) and all(os.path.exists(os.path.join(folder, f)) for f in files):
            with open(truth_path) as f:
                old = json.load(f)
            if old.get("version") == RENDER_VERSION and old.get("seed") == seed:
                continue
        os.makedirs(folder, exist_ok=True)
        truth = dict(version=RENDER_VERSION, seed=seed, sample_rate=SR, frame_period_ms=FRAME,
                     voices={k: v["label"] for k, v in VOICES.items()},
                     song=plan, reference=reference, f0={})
        for key, voice in VOICES.items():
            words = cache[key]
            for note in plan["notes"] + reference["notes"]:
                if note["word"] not in words:
                    words[note["word"]] = Word(voice, note["word"], os.path.join(work, "words", key))
            y, f0, contour = sing(plan, voice, words)
            sf.write(os.path.join(folder, f"{key}.wav"), y, SR, subtype="FLOAT")
            truth["f0"][key] = [round(float(v), 2) for v in f0]
            truth["melody_f0"] = [round(float(440 * 2 ** ((m - 69) / 12)) if m > 0 else 0.0, 2)
                                  for m in contour]
            y, _, _ = sing(reference, voice, words)
            sf.write(os.path.join(folder, f"ref_{key}.wav"), y, SR, subtype="FLOAT")
        with open(truth_path, "w") as f:
            json.dump(truth, f)
        rendered += 1
    return folders, rendered


# ---------------------------------------------------------------------------------------------
# Analysis, the baseline, the metrics.

def read(path):
    y, fs = sf.read(path, dtype="float64", always_2d=True)
    y = y.mean(axis=1)
    if fs != SR:
        y = librosa.resample(y, orig_sr=fs, target_sr=SR)
    return y


def analyse(x, with_ap=False):
    f0, t = pyworld.dio(x, SR, f0_floor=F0_MIN, f0_ceil=F0_MAX, frame_period=FRAME)
    f0 = pyworld.stonemask(x, f0, t, SR)
    sp = pyworld.cheaptrick(x, f0, t, SR)
    ap = pyworld.d4c(x, f0, t, SR) if with_ap else None
    return f0, sp, ap


def voiced_frames(f0, sp):
    energy = 10 * np.log10(sp.sum(axis=1) + 1e-30)
    return (f0 > 0) & (energy > energy.max() - 40)


def mean_log_envelope(f0, sp):
    return np.log(sp[voiced_frames(f0, sp)] + 1e-30).mean(axis=0)


def warp_envelope(log_sp, scale):
    """log_sp(f / scale) on the same grid (the last bin held above it)."""
    position = np.minimum(np.arange(BINS) / scale, BINS - 1)
    lo = np.minimum(np.floor(position).astype(int), BINS - 2)
    w = position - lo
    return (1 - w) * log_sp[..., lo] + w * log_sp[..., lo + 1]


def smooth(curve, keep=100):
    """Cepstral smoothing of a log spectrum on the CheapTrick grid."""
    cepstrum = np.fft.irfft(curve)
    cepstrum[keep:-keep] = 0
    return np.fft.rfft(cepstrum).real


MEL_BINS = np.unique(np.round(librosa.mel_to_hz(np.linspace(librosa.hz_to_mel(100), librosa.hz_to_mel(10000), 120))
                              * FFT / SR).astype(int))
WARPS = np.geomspace(0.7, 1.43, 73)


def best_warp(source_mean, reference_mean):
    """The frequency scale that best fits the source's mean envelope to the reference's (on a mel
    grid 100 Hz - 10 kHz, level and tilt removed)."""
    x = np.log(MEL_BINS + 1.0)
    basis = np.stack([np.ones_like(x), x], axis=1)
    errors = []
    for scale in WARPS:
        diff = (reference_mean - warp_envelope(source_mean, scale))[MEL_BINS]
        fit, *_ = np.linalg.lstsq(basis, diff, rcond=None)
        errors.append(np.mean((diff - basis @ fit) ** 2))
    return float(WARPS[int(np.argmin(errors))])


def baseline_profile(reference_path):
    f0, sp, _ = analyse(read(reference_path))
    return mean_log_envelope(f0, sp)


def baseline_convert(input_path, profile, output_path, warp=True):
    """Warp the input's envelope towards the profile, match its mean, keep F0 and aperiodicity."""
    x = read(input_path)
    f0, sp, ap = analyse(x, with_ap=True)
    source_mean = mean_log_envelope(f0, sp)
    scale = best_warp(source_mean, profile) if warp else 1.0
    eq = np.clip(smooth(profile - warp_envelope(source_mean, scale)), -5.5, 5.5)  # +-24 dB
    log_sp = warp_envelope(np.log(sp + 1e-30), scale) + eq
    y = pyworld.synthesize(f0, np.ascontiguousarray(np.exp(log_sp)), ap, SR, frame_period=FRAME)
    y *= min(1.0, 0.95 / (np.max(np.abs(y)) + 1e-12))
    sf.write(output_path, y.astype(np.float32), SR, subtype="FLOAT")
    return scale


class Take:
    """A file's WORLD analysis for the metrics: F0, voiced frames, mel-cepstrum, frame energy."""

    def __init__(self, path):
        x = read(path)
        self.f0, sp, _ = analyse(x)
        self.pitch = median5(refine(x, self.f0))
        self.voiced = voiced_frames(self.f0, sp)
        self.mcep = pysptk.sp2mc(sp, MCEP_ORDER, MCEP_ALPHA)
        self.energy = np.log(sp.sum(axis=1) + 1e-12)

    def shifted(self, lag):
        """This take with frame i moved to i - lag (lag > 0: the file is late)."""
        if lag == 0:
            return self
        other = object.__new__(Take)
        for name in ("f0", "pitch", "voiced", "mcep", "energy"):
            v = getattr(self, name)
            other.__dict__[name] = v[lag:] if lag > 0 else np.concatenate([np.repeat(v[:1], -lag, axis=0), v])
        return other


def lag_frames(take, reference, limit=20):
    """The lag (frames, within +-limit) that best correlates the take's frame energy with the
    reference's."""
    n = min(len(take.energy), len(reference.energy)) - 2 * limit
    a = reference.energy[limit:limit + n] - reference.energy[limit:limit + n].mean()
    scores = []
    for lag in range(-limit, limit + 1):
        b = take.energy[limit + lag:limit + lag + n]
        scores.append(np.dot(a, b - b.mean()) / (np.linalg.norm(b - b.mean()) + 1e-12))
    return int(np.argmax(scores)) - limit


# How much better (mean log-magnitude contrast, nepers) another octave must score than the
# tracker's before it is taken.
OCTAVE_MARGIN = 0.5
# The octave is decided on the scores summed over this many frames either side in the same voiced
# run (+-20 ms): at a voiced run's first frames the 46 ms window still holds the consonant before
# it, and one frame's contrast alone may then favour the double.
OCTAVE_SPAN = 4


def refine(x, f0, chunk=256):
    """Each voiced frame's F0 moved to the best-scoring candidate within +-1800 cents of the
    tracker's value (5-cent steps; OCTAVE_MARGIN in favour of those within +-100 cents of it). The
    score is a harmonic contrast: over harmonics 1-8, the log magnitude at the harmonic minus the
    mean of those half a harmonic either side (46 ms Hann window, zero-padded to 8192). The tracker
    decides voicing; the harmonics decide the pitch: DIO jumps an octave up when a timbre change
    weakens the fundamental (the odd harmonics still say where the pitch is), and reads a wrong,
    not even octave-related, value where the second and third harmonics stand well above the
    fundamental. The octave band (the tracker's value +-600 cents, or one octave below or above)
    is chosen on each band's best score summed over +-OCTAVE_SPAN frames of the same voiced run
    (an octave slip of a note still counts, one frame's noisy contrast does not), the value within
    that band frame by frame."""
    win, n_fft = 2048, 8192
    harmonics = np.arange(1, 9)
    cents = np.arange(-600, 600, 5.0)  # each octave's band: the three cover +-1800 cents
    grid = np.concatenate([cents - 1200, cents, cents + 1200])
    near = len(cents) + np.flatnonzero(np.abs(cents) <= 100)  # +-100 cents of the tracker's value
    frames = np.flatnonzero(f0 > 0)
    padded = np.pad(x, (win // 2, win))
    out = f0.copy()
    scores = np.full((len(f0), len(grid)), -1e9)

    def level(spectrum, frequencies):
        position = np.clip(frequencies * n_fft / SR, 0, n_fft // 2 - 1)
        lo = np.floor(position).astype(int)
        w = position - lo
        r = np.arange(len(spectrum))[:, None, None]
        return (1 - w) * spectrum[r, lo] + w * spectrum[r, lo + 1]

    for a in range(0, len(frames), chunk):
        rows = frames[a:a + chunk]
        start = np.round(rows * FP * SR).astype(int)
        segments = padded[start[:, None] + np.arange(win)] * np.hanning(win)
        spectrum = np.log(np.abs(np.fft.rfft(segments, n_fft)) + 1e-9)
        candidates = f0[rows, None] * 2 ** (grid / 1200)  # frames x candidates
        peaks = level(spectrum, candidates[:, :, None] * harmonics)
        valleys = 0.5 * (level(spectrum, candidates[:, :, None] * (harmonics - 0.5))
                         + level(spectrum, candidates[:, :, None] * (harmonics + 0.5)))
        score = (peaks - valleys).mean(axis=2)
        score[:, near] += OCTAVE_MARGIN  # the tracker's value unless clearly worse
        score[(candidates < F0_MIN) | (candidates > F0_MAX)] = -1e9
        scores[rows] = score

    # Each octave's best score, summed over the neighbours in the same voiced run.
    octaves = scores.reshape(len(f0), 3, len(cents)).max(axis=2)
    run = np.cumsum(np.r_[0, np.diff((f0 > 0).astype(int)) != 0])
    summed = np.zeros_like(octaves)
    for d in range(-OCTAVE_SPAN, OCTAVE_SPAN + 1):
        j = np.clip(np.arange(len(f0)) + d, 0, len(f0) - 1)
        summed += np.where((run[j] == run)[:, None], octaves[j], 0.0)
    octave = np.argmax(summed[frames], axis=1)
    score = scores[frames]
    i = np.arange(len(frames))
    best = octave * len(cents) + np.argmax(score.reshape(len(frames), 3, len(cents))[i, octave], axis=1)
    inner = (best % len(cents) != 0) & (best % len(cents) != len(cents) - 1)
    left = score[i, np.maximum(best - 1, 0)]
    right = score[i, np.minimum(best + 1, len(grid) - 1)]
    mid = score[i, best]
    offset = np.where(inner, 0.5 * (left - right) / np.minimum(left - 2 * mid + right, -1e-9), 0.0)
    out[frames] = f0[frames] * 2 ** ((grid[best] + 5 * np.clip(offset, -1, 1)) / 1200)
    return out


def median5(f0):
    """Each voiced frame's F0 replaced by the median over it and its neighbours up to two frames
    away in the same voiced run: removes the tracker's lone spikes, keeps real steps."""
    log_f0 = np.where(f0 > 0, np.log(np.maximum(f0, 1e-9)), np.nan)
    padded = np.r_[np.full(2, np.nan), log_f0, np.full(2, np.nan)]
    window = np.stack([padded[i:i + len(f0)] for i in range(5)])
    window[0][np.isnan(window[1])] = np.nan  # only neighbours in the same voiced run
    window[4][np.isnan(window[3])] = np.nan
    window[:, f0 <= 0] = 0.0  # unvoiced frames stay unvoiced (and nanmedian has a value there)
    return np.where(f0 > 0, np.exp(np.nanmedian(window, axis=0)), 0.0)


def f0_errors(estimate, truth):
    """(RMSE in cents, share of frames more than a semitone off) over frames voiced in both."""
    n = min(len(estimate), len(truth))
    both = (estimate[:n] > 0) & (truth[:n] > 0)
    if not both.any():
        return float("nan"), float("nan")
    cents = 1200 * np.log2(estimate[:n][both] / truth[:n][both])
    return float(np.sqrt(np.mean(cents**2))), float(np.mean(np.abs(cents) > 100))


def mcd(take, target):
    n = min(len(take.mcep), len(target.mcep))
    both = take.voiced[:n] & target.voiced[:n]
    if not both.any():
        return float("nan")
    diff = take.mcep[:n][both, 1:] - target.mcep[:n][both, 1:]
    return float(np.mean(10 / math.log(10) * np.sqrt(2 * np.sum(diff**2, axis=1))))


# ---------------------------------------------------------------------------------------------
# mixsmith

def has_voice(cli, command):
    if not os.path.exists(cli):
        return False
    run = subprocess.run([cli, "voice", command, "--help"], capture_output=True)
    return run.returncode == 0


def timed(command):
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{run.stderr.decode(errors='replace')}")
    return elapsed


def read_pitch_csv(path, frames):
    """`mixsmith voice pitch --csv` (time_s,f0_hz,voiced_probability) on our 5 ms frame grid."""
    rows = []
    with open(path) as f:
        for line in f:
            cells = line.strip().split(",")
            try:
                rows.append([float(c) if c else 0.0 for c in cells[:3]])
            except ValueError:
                continue  # the header
    rows = np.array(rows).reshape(-1, 3)
    f0 = np.where((rows[:, 2] >= 0.5) & (rows[:, 1] > 0) & np.isfinite(rows[:, 1]), rows[:, 1], 0.0)
    if len(rows) < 2:
        return np.zeros(frames)
    times = np.arange(frames) * FP
    # Linear in log frequency between two voiced rows, the nearest row's value elsewhere.
    right = np.clip(np.searchsorted(rows[:, 0], times), 1, len(rows) - 1)
    left = right - 1
    span = np.maximum(rows[right, 0] - rows[left, 0], 1e-9)
    w = np.clip((times - rows[left, 0]) / span, 0, 1)
    nearest = np.where(w < 0.5, left, right)
    both = (f0[left] > 0) & (f0[right] > 0)
    log_f0 = (1 - w) * np.log(np.maximum(f0[left], 1e-9)) + w * np.log(np.maximum(f0[right], 1e-9))
    out = np.where(both, np.exp(log_f0), f0[nearest])
    out[np.abs(rows[nearest, 0] - times) > 0.02] = 0.0
    return out


def voicing(estimate, truth):
    """(share of truly voiced frames found voiced, share of silent/unvoiced frames called voiced)."""
    n = min(len(estimate), len(truth))
    e, t = estimate[:n] > 0, truth[:n] > 0
    return e[t].mean(), e[~t].mean()


# ---------------------------------------------------------------------------------------------

def main():
    cli, work = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 20261203
    os.makedirs(work, exist_ok=True)
    start = time.perf_counter()
    folders, rendered = render_set(work, count, seed)
    render_time = time.perf_counter() - start
    convert = has_voice(cli, "convert") and has_voice(cli, "clone")
    pitch = has_voice(cli, "pitch")

    methods = ["none", "eq", "baseline"] + (["mixsmith"] if convert else [])
    scores = {(m, d): {"f0": [], "gross": [], "mcd": []} for m in methods for d in ("AtoB", "BtoA")}
    times = {"baseline clone": 0.0, "baseline convert": 0.0, "mixsmith clone": 0.0, "mixsmith convert": 0.0}
    minutes = {"input": 0.0, "reference": 0.0}
    pitch_stats = {"dio": [], "mixsmith": []}
    pitch_time = 0.0
    lines, lags, warps, overlap = [], [], [], []
    for folder in folders:
        with open(os.path.join(folder, "truth.json")) as f:
            truth = json.load(f)
        true_f0 = {k: np.array(v) for k, v in truth["f0"].items()}
        a, b = true_f0["A"] > 0, true_f0["B"] > 0
        overlap.append((a & b).sum() / (a | b).sum())
        out = os.path.join(folder, "out")
        os.makedirs(out, exist_ok=True)
        takes = {k: Take(os.path.join(folder, f"{k}.wav")) for k in VOICES}
        if pitch:
            for k in VOICES:
                csv = os.path.join(out, f"pitch_{k}.csv")
                pitch_time += timed([cli, "voice", "pitch", os.path.join(folder, f"{k}.wav"), "--csv", csv])
                ours = read_pitch_csv(csv, len(true_f0[k]))
                pitch_stats["mixsmith"].append((*f0_errors(ours, true_f0[k]), *voicing(ours, true_f0[k])))
                pitch_stats["dio"].append((*f0_errors(takes[k].pitch, true_f0[k]),
                                           *voicing(takes[k].f0, true_f0[k])))
        cells = []
        for source, target in DIRECTIONS:
            direction = f"{source}to{target}"
            source_wav = os.path.join(folder, f"{source}.wav")
            reference_wav = os.path.join(folder, f"ref_{target}.wav")
            minutes["input"] += sf.info(source_wav).duration / 60
            minutes["reference"] += sf.info(reference_wav).duration / 60
            results = {"none": takes[source]}

            t0 = time.perf_counter()
            profile = baseline_profile(reference_wav)
            t1 = time.perf_counter()
            warps.append(baseline_convert(source_wav, profile, os.path.join(out, f"baseline_{direction}.wav")))
            t2 = time.perf_counter()
            times["baseline clone"] += t1 - t0
            times["baseline convert"] += t2 - t1
            baseline_convert(source_wav, profile, os.path.join(out, f"eq_{direction}.wav"), warp=False)
            for m in ("baseline", "eq"):
                results[m] = Take(os.path.join(out, f"{m}_{direction}.wav"))

            if convert:
                voice_json = os.path.join(out, f"mixsmith_voice_{target}.json")
                converted = os.path.join(out, f"mixsmith_{direction}.wav")
                times["mixsmith clone"] += timed([cli, "voice", "clone", reference_wav, "-o", voice_json])
                times["mixsmith convert"] += timed([cli, "voice", "convert", source_wav, "--voice", voice_json,
                                                    "-o", converted])
                results["mixsmith"] = Take(converted)

            for m in methods:
                take = results[m]
                if m != "none":
                    lag = lag_frames(take, takes[source])
                    if lag:
                        lags.append(f"{os.path.basename(folder)} {direction} {m}: {lag * FRAME:+.0f} ms")
                    take = take.shifted(lag)
                rmse, gross = f0_errors(take.pitch, true_f0[source])
                scores[(m, direction)]["f0"].append(rmse)
                scores[(m, direction)]["gross"].append(gross)
                scores[(m, direction)]["mcd"].append(mcd(take, takes[target]))
            cells.append(f"{source}->{target} " + " ".join(
                f"{scores[(m, direction)]['f0'][-1]:5.1f}/{scores[(m, direction)]['mcd'][-1]:5.2f}" for m in methods))
        song = truth["song"]
        lines.append(f"  {os.path.basename(folder)} {song['bpm']:5.1f} BPM {key_name(song):<9} "
                     f"MIDI {song['range'][0]}-{song['range'][1]} {song['seconds']:4.1f} s  " + "   ".join(cells))

    labels = {"none": "no conversion (upper bound)", "eq": "pyworld mean EQ only",
              "baseline": "pyworld warp + mean EQ (baseline)", "mixsmith": "mixsmith voice convert (DSP)"}
    n = len(folders)
    if rendered:
        print(f"rendered {rendered} songs into {work} in {render_time:.0f} s")
    seconds = minutes["input"] * 60 / (2 * n)
    ref_seconds = minutes["reference"] * 60 / (2 * n)
    print(f"voice bench: {n} songs (seed {seed}), {seconds:.0f} s each, references {ref_seconds:.0f} s "
          f"(another song of the target voice); A = {VOICES['A']['label']}; B = {VOICES['B']['label']}; "
          f"both voiced on {np.mean(overlap):.1%} of the frames either is voiced")

    def mean(values):
        values = [v for v in values if not math.isnan(v)]
        return sum(values) / len(values) if values else float("nan")

    print(f"{'':36}{'F0 RMSE cents':>24}{'F0 >1 st':>10}{'MCD dB':>24}")
    print(f"{'':36}" + "".join(f"{h:>8}" for h in ("A->B", "B->A", "all")) + f"{'all':>10}"
          + "".join(f"{h:>8}" for h in ("A->B", "B->A", "all")))
    for m in methods:
        cells = []
        for metric, form in (("f0", "{:8.1f}"), ("gross", "{:10.2%}"), ("mcd", "{:8.2f}")):
            a, b = scores[(m, "AtoB")][metric], scores[(m, "BtoA")][metric]
            values = [mean(a + b)] if metric == "gross" else [mean(a), mean(b), mean(a + b)]
            cells += [form.format(v) for v in values]
        print(f"{labels[m]:<36}" + "".join(cells))
    if not convert:
        print("mixsmith rows missing: this CLI has no `voice clone` / `voice convert` "
              f"({cli}); only the baseline ran")
    print(f"baseline warp factors found: A->B mean {mean(warps[0::2]):.3f}, B->A mean {mean(warps[1::2]):.3f} "
          f"(set made with {VOICES['B']['formant'] / VOICES['A']['formant']:.3f} and "
          f"{VOICES['A']['formant'] / VOICES['B']['formant']:.3f} on top of the synthesizers' own difference)")
    per_minute = {k: v / (minutes["reference"] if "clone" in k else minutes["input"]) for k, v in times.items()}
    text = (f"seconds per minute of audio: baseline convert {per_minute['baseline convert']:.2f} "
            f"(real-time factor {per_minute['baseline convert'] / 60:.3f}), clone {per_minute['baseline clone']:.2f} "
            f"per minute of reference")
    if convert:
        ratio = per_minute["baseline convert"] / per_minute["mixsmith convert"]
        text += (f"; mixsmith voice convert (process) {per_minute['mixsmith convert']:.2f} "
                 f"(real-time factor {per_minute['mixsmith convert'] / 60:.3f}; the baseline takes {ratio:.1f}x "
                 f"as long), voice clone (process) {per_minute['mixsmith clone']:.2f} per minute of reference")
    print(text)
    if convert:
        f0_all = mean(scores[("mixsmith", "AtoB")]["f0"] + scores[("mixsmith", "BtoA")]["f0"])
        gain = (mean(scores[("baseline", "AtoB")]["mcd"] + scores[("baseline", "BtoA")]["mcd"])
                - mean(scores[("mixsmith", "AtoB")]["mcd"] + scores[("mixsmith", "BtoA")]["mcd"]))
        print(f"targets: mixsmith F0 RMSE {f0_all:.1f} cents (<= 25: {'met' if f0_all <= 25 else 'NOT met'}); "
              f"MCD {gain:+.2f} dB below the baseline (>= 2.5: {'met' if gain >= 2.5 else 'NOT met'})")
    if pitch:
        for name, label in (("mixsmith", "mixsmith voice pitch"), ("dio", "the metric's tracker")):
            stats = np.array(pitch_stats[name])
            print(f"pitch tracking on the unconverted takes, {label:<30}: RMSE {np.nanmean(stats[:, 0]):6.1f} cents, "
                  f">1 st off {np.nanmean(stats[:, 1]):6.2%}, voiced frames found {np.mean(stats[:, 2]):6.1%}, "
                  f"unvoiced called voiced {np.mean(stats[:, 3]):6.1%}")
        print(f"  mixsmith voice pitch (process): {pitch_time / minutes['input']:.2f} s per minute of audio")
    else:
        print("mixsmith voice pitch rows missing: this CLI has no `voice pitch`")
    if lags:
        print("outputs found late or early against their input (compensated): " + "; ".join(lags))
    print("per song (F0 RMSE cents / MCD dB: " + ", ".join(methods) + "):")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
