#!/usr/bin/env python3
"""F0 bench: sung melodies with a known F0, `mixsmith voice pitch` against librosa's pYIN.

Renders melodies (notes of 0.12-0.6 s moving by steps and leaps of up to an octave, legato
glides, vibrato growing in on long notes, rests, breaths between phrases) with a harmonic voice
synthesiser: a glottal-like source with jitter and shimmer, vowel formants changing per note,
aspiration noise. Timbres: male and female ranges, breathy, bright, and a telephone voice (band
300-3400 Hz, so the fundamental is missing). Each melody is written as 44.1 kHz 16-bit WAV, then
measured by

- `mixsmith voice pitch WAV --json` (whole process), and
- `librosa.pyin` (fmin 50, fmax 1100 Hz as mixsmith's defaults, frame 2048, hop 256) in this warm
  Python on the same samples;

against the rendered F0 at each frame's time (glides and vibrato included; jitter, a few cents of
random period perturbation, is not part of the truth):

- RMSE in cents over frames voiced in the truth and the estimate and within 50 cents;
- gross error rate: frames voiced in both that are more than 50 cents off (octave errors etc.);
- voicing: recall (truth voiced, estimate voiced) and false alarms (truth unvoiced, estimate
  voiced), leaving out frames within 30 ms of a voicing change;
- seconds per minute of audio for each.

Usage: pitch_bench.py MIXSMITH_CLI WORK_DIR [MELODIES [SEED]]
Needs: librosa, numpy, scipy in this Python.
"""

import json
import math
import os
import random
import subprocess
import sys
import time
import wave

import librosa
import numpy as np
from scipy.signal import butter, lfilter, sosfilt

RATE = 44100
SECONDS = 15.0
# Formants (Hz, bandwidth Hz) of a few vowels, male; a female voice's are scaled by 1.17.
VOWELS = {
    "a": [(730, 90), (1090, 110), (2440, 160), (3400, 200)],
    "e": [(530, 70), (1840, 100), (2480, 140), (3500, 200)],
    "i": [(270, 60), (2290, 100), (3010, 120), (3700, 200)],
    "o": [(570, 70), (840, 80), (2410, 140), (3400, 200)],
    "u": [(300, 60), (870, 90), (2240, 120), (3300, 200)],
}
# Timbres: MIDI range of the melody, spectral tilt (harmonic k at k^-tilt), aspiration noise
# RMS relative to the voice, jitter (period perturbation, fraction), formant scale, band.
TIMBRES = {
    "male": dict(low=43, high=64, tilt=1.2, noise=0.03, jitter=0.003, formants=1.0, band=None),
    "female": dict(low=55, high=77, tilt=1.3, noise=0.03, jitter=0.003, formants=1.17, band=None),
    "breathy": dict(low=52, high=72, tilt=1.6, noise=0.15, jitter=0.005, formants=1.1, band=None),
    "bright": dict(low=48, high=70, tilt=0.8, noise=0.02, jitter=0.002, formants=1.0, band=None),
    "telephone": dict(low=43, high=62, tilt=1.1, noise=0.03, jitter=0.003, formants=1.0,
                      band=(300, 3400)),
}
HOP = 256
FRAME = 2048
EDGE_S = 0.03


def plan_melody(rng, timbre):
    """(start s, end s, MIDI note, vowel) notes and the breaths between phrases."""
    notes = []
    t = 0.15
    note = rng.randint(timbre["low"] + 4, timbre["high"] - 4)
    while t < SECONDS - 0.8:
        phrase_end = min(t + rng.uniform(2.0, 4.0), SECONDS - 0.3)
        while t < phrase_end:
            step = rng.choice([-12, -7, -5, -3, -2, -1, 0, 1, 2, 3, 4, 5, 7, 12])
            note = min(max(note + step, timbre["low"]), timbre["high"])
            length = rng.uniform(0.12, 0.6)
            notes.append((t, min(t + length, phrase_end), note, rng.choice(list(VOWELS))))
            t += length
        t += rng.uniform(0.25, 0.6)  # a breath
    return notes


def contour(notes, n):
    """Per-sample truth F0 (0 in rests; 30 ms glides between legato notes; vibrato), and the
    per-sample vowel index."""
    f0 = np.zeros(n)
    vowel = np.zeros(n, dtype=int)
    names = list(VOWELS)
    for i, (start, end, note, v) in enumerate(notes):
        a, b = int(start * RATE), min(int(end * RATE), n)
        t = np.arange(b - a) / RATE
        hz = 440.0 * 2 ** ((note - 69) / 12)
        cents = 45.0 * np.clip((t - 0.2) / 0.25, 0, 1) * np.sin(2 * np.pi * 5.6 * t)
        seg = hz * 2 ** (cents / 1200)
        if i > 0 and abs(notes[i - 1][1] - start) < 1e-9:
            prev = 440.0 * 2 ** ((notes[i - 1][2] - 69) / 12)
            glide = int(0.03 * RATE)
            k = min(glide, b - a)
            w = np.arange(k) / glide
            seg[:k] = np.exp(np.log(prev) * (1 - w) + np.log(seg[:k]) * w)
        f0[a:b] = seg
        vowel[a:b] = names.index(v)
    return f0, vowel


def synthesise(f0, vowel, timbre, rng):
    """A voice singing F0 `f0` (per sample) on the vowels `vowel`."""
    n = len(f0)
    nrng = np.random.default_rng(rng.randrange(2**31))
    voiced = f0 > 0
    # Fill rests with the last pitch so the phase runs on while the level fades.
    held = f0.copy()
    last = 150.0
    for i in range(n):
        if held[i] > 0:
            last = held[i]
        else:
            held[i] = last
    # Jitter: a slowly wandering period perturbation (low-passed noise), not part of the truth.
    jitter = lfilter([0.02], [1, -0.98], nrng.standard_normal(n)) * timbre["jitter"] * 7
    inst = held * (1 + jitter)
    phase = 2 * np.pi * np.cumsum(inst) / RATE
    source = np.zeros(n)
    top = min(0.45 * RATE, 10000)
    for k in range(1, int(top / 40) + 1):
        mask = k * inst < top
        if not mask.any():
            break
        source += np.where(mask, np.sin(k * phase) * k ** -timbre["tilt"], 0.0)
    shimmer = 1 + 0.05 * lfilter([0.02], [1, -0.98], nrng.standard_normal(n)) * 7
    level = lfilter([1 - 0.995], [1, -0.995], voiced.astype(float))  # ~5 ms fades
    voice = source * shimmer * level
    noise = nrng.standard_normal(n) * timbre["noise"] * np.sqrt(np.mean(voice[voiced] ** 2))
    x = voice + noise * level
    # Formants: each vowel's resonators over its own stretch (cascade of two-pole sections).
    out = np.zeros(n)
    for idx, name in enumerate(VOWELS):
        part = np.where(vowel == idx, x, 0.0)
        if not part.any():
            continue
        for hz, bw in VOWELS[name]:
            hz *= timbre["formants"]
            r = math.exp(-math.pi * bw / RATE)
            part = lfilter([1 - r], [1, -2 * r * math.cos(2 * math.pi * hz / RATE), r * r], part)
        out += part
    if timbre["band"]:
        low, high = timbre["band"]
        out = sosfilt(butter(6, [low, high], btype="band", fs=RATE, output="sos"), out)
    return 0.5 * out / np.max(np.abs(out))


def write_wav(path, x):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def score(times, est, truth, edges):
    """Accumulates (squared cents, fine, gross, both, recall hits, voiced, false alarms,
    unvoiced) for estimates `est` at `times` against the per-sample truth."""
    idx = np.clip((np.asarray(times) * RATE).round().astype(int), 0, len(truth) - 1)
    ref = truth[idx]
    est = np.nan_to_num(np.asarray(est, dtype=float))
    near_edge = edges[idx]
    both = (ref > 0) & (est > 0)
    c = 1200 * np.log2(est[both] / ref[both])
    fine = np.abs(c) <= 50
    care = ~near_edge
    return np.array([
        np.sum(c[fine] ** 2), fine.sum(), (~fine).sum(), both.sum(),
        np.sum((ref > 0) & (est > 0) & care), np.sum((ref > 0) & care),
        np.sum((ref <= 0) & (est > 0) & care), np.sum((ref <= 0) & care),
    ], dtype=float)


def main():
    cli, work = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 20261203
    os.makedirs(work, exist_ok=True)
    names = list(TIMBRES)
    totals = {"mixsmith": np.zeros(8), "pyin": np.zeros(8)}
    per_timbre = {(tool, name): np.zeros(8) for tool in totals for name in names}
    seconds = {"mixsmith": 0.0, "pyin": 0.0}
    for i in range(count):
        rng = random.Random(f"{seed}/{i}")
        name = names[i % len(names)]
        timbre = TIMBRES[name]
        notes = plan_melody(rng, timbre)
        n = int(SECONDS * RATE)
        truth, vowel = contour(notes, n)
        voiced = truth > 0
        change = np.flatnonzero(np.diff(voiced.astype(int)))
        edges = np.zeros(n, dtype=bool)
        for c in change:
            edges[max(c - int(EDGE_S * RATE), 0):c + int(EDGE_S * RATE)] = True
        wav = os.path.join(work, f"melody{i:02}-{name}.wav")
        x = synthesise(truth, vowel, timbre, rng)
        write_wav(wav, x)

        start = time.perf_counter()
        out = subprocess.run([cli, "voice", "pitch", wav, "--json"], check=True, capture_output=True)
        seconds["mixsmith"] += time.perf_counter() - start
        frames = json.loads(out.stdout)["frames"]
        ours = score([f["time"] for f in frames], [f["f0_hz"] for f in frames], truth, edges)

        start = time.perf_counter()
        y, sr = librosa.load(wav, sr=None, mono=True)
        f0, flag, _ = librosa.pyin(y, fmin=50, fmax=1100, sr=sr, frame_length=FRAME, hop_length=HOP)
        seconds["pyin"] += time.perf_counter() - start
        times = librosa.times_like(f0, sr=sr, hop_length=HOP)
        theirs = score(times, np.where(flag, f0, 0.0), truth, edges)

        for tool, s in (("mixsmith", ours), ("pyin", theirs)):
            totals[tool] += s
            per_timbre[(tool, name)] += s

    def line(s):
        rmse = math.sqrt(s[0] / max(s[1], 1))
        gross = 100 * s[2] / max(s[3], 1)
        recall = 100 * s[4] / max(s[5], 1)
        false = 100 * s[6] / max(s[7], 1)
        return (f"RMSE {rmse:5.2f} cents, gross errors {gross:5.2f} %, voicing recall "
                f"{recall:5.1f} %, false alarms {false:5.1f} %")

    minutes = count * SECONDS / 60
    print(f"{count} melodies of {SECONDS:.0f} s at {RATE} Hz, timbres {', '.join(names)}")
    for tool in totals:
        print(f"{tool:<9} {line(totals[tool])}; {seconds[tool] / minutes:.2f} s per minute of audio")
    for name in names[:count]:
        for tool in totals:
            print(f"  {name:<10} {tool:<9} {line(per_timbre[(tool, name)])}")


if __name__ == "__main__":
    main()
