#!/usr/bin/env python3
"""Produce core/tests/data/basic_pitch_notes_reference.json with the Python basic-pitch package.

Renders a tonal test clip by formula (harmonic tones with attack, decay, release and vibrato;
the same formula as core/tests/common/synth.rs), writes it as a 32-bit float WAV at 22050 Hz (so
no resampling is involved), runs `basic_pitch.inference.predict` with its ONNX model and stores
the clip's parameters and the notes the package found. Only numbers are committed, never audio
or the model. The Rust test (core/tests/transcribe_basic_pitch.rs) renders the same clip, runs
`mixsmith_core::transcribe` and compares the notes.

Usage (one-off, not needed by the tests; `cargo xtask bench` makes the same venv):
    python3 -m venv vendor/bench-venv
    vendor/bench-venv/bin/pip install --no-deps basic-pitch==0.4.0
    vendor/bench-venv/bin/pip install librosa==0.10.2.post1 mir_eval==0.7 pretty_midi==0.2.10 \
        resampy==0.4.2 onnxruntime==1.31.1 "numpy<2.1" scipy scikit-learn typing-extensions
    vendor/bench-venv/bin/python models/scripts/basic_pitch_notes.py \
        core/tests/data/basic_pitch_notes_reference.json
"""

import json
import os
import sys
import tempfile

import numpy as np
from scipy.io import wavfile

ATTACK_S = 0.01
RELEASE_S = 0.05
SAMPLE_RATE = 22050
SECONDS = 8.0

TIMBRES = [
    {"harmonics": [1.0, 0.5, 0.33, 0.25, 0.2, 0.15], "decay_s": 0.9},  # piano-like
    {"harmonics": [1.0, 0.0, 0.5, 0.0, 0.3, 0.0, 0.2], "decay_s": 20.0},  # organ / clarinet-like
    {"harmonics": [1.0, 0.8, 0.6, 0.45, 0.3, 0.2, 0.1], "decay_s": 0.35},  # plucked
    {"harmonics": [1.0, 0.15, 0.05], "decay_s": 30.0},  # flute-like
]


def note(pitch, start, dur, amp, timbre, vibrato_cents=0.0, vibrato_hz=0.0):
    return {
        "pitch": pitch,
        "start": start,
        "dur": dur,
        "amp": amp,
        "timbre": timbre,
        "vibrato_cents": vibrato_cents,
        "vibrato_hz": vibrato_hz,
    }


NOTES = [
    # C major arpeggio, piano-like
    note(60, 0.25, 0.4, 0.3, 0), note(64, 0.75, 0.4, 0.3, 0), note(67, 1.25, 0.4, 0.3, 0),
    note(72, 1.75, 0.5, 0.3, 0),
    # a held chord across a window boundary, organ-like
    note(53, 2.5, 1.5, 0.15, 1), note(57, 2.5, 1.5, 0.15, 1), note(60, 2.5, 1.5, 0.15, 1),
    # bass line, plucked
    note(40, 2.6, 0.6, 0.4, 2), note(43, 3.4, 0.6, 0.4, 2),
    # a flute-like melody with vibrato
    note(76, 4.3, 0.9, 0.25, 3, 30.0, 5.5), note(74, 5.3, 0.5, 0.25, 3), note(79, 5.9, 0.8, 0.25, 3, 40.0, 6.0),
    # repeated plucked notes and a high note
    note(64, 4.4, 0.25, 0.3, 2), note(64, 4.8, 0.25, 0.3, 2), note(88, 6.9, 0.6, 0.2, 0),
]


def render(notes, timbres, rate, seconds):
    """The formula of core/tests/common/synth.rs, in f64, stored as f32."""
    length = int(round(seconds * rate))
    out = np.zeros(length, dtype=np.float64)
    for n in notes:
        t = timbres[n["timbre"]]
        f0 = 440.0 * 2.0 ** ((n["pitch"] - 69.0) / 12.0)
        depth = 2.0 ** (n["vibrato_cents"] / 1200.0) - 1.0
        first = int(np.ceil(n["start"] * rate))
        last = min(int(np.ceil((n["start"] + n["dur"] + RELEASE_S) * rate)), length)
        idx = np.arange(first, last)
        local = idx / float(rate) - n["start"]
        env = np.minimum(local / ATTACK_S, 1.0) * np.exp(-local / t["decay_s"])
        env = np.where(local > n["dur"], env * np.maximum(1.0 - (local - n["dur"]) / RELEASE_S, 0.0), env)
        phase = 2.0 * np.pi * f0 * local
        if n["vibrato_hz"] > 0.0:
            phase = phase + f0 * depth / n["vibrato_hz"] * (1.0 - np.cos(2.0 * np.pi * n["vibrato_hz"] * local))
        v = np.zeros(len(idx))
        for h, a in enumerate(t["harmonics"]):
            k = float(h + 1)
            if k * f0 < 0.45 * rate:
                v = v + a * np.sin(k * phase)
        out[first:last] += n["amp"] * env * v
    return out.astype(np.float32)


def main():
    out_path = sys.argv[1]
    from basic_pitch import ICASSP_2022_MODEL_PATH
    from basic_pitch.inference import predict
    import basic_pitch

    assert str(ICASSP_2022_MODEL_PATH).endswith("nmp.onnx"), ICASSP_2022_MODEL_PATH
    audio = render(NOTES, TIMBRES, SAMPLE_RATE, SECONDS)
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "clip.wav")
        wavfile.write(wav, SAMPLE_RATE, audio)
        _, _, events = predict(wav, ICASSP_2022_MODEL_PATH)
    notes = sorted(
        (
            {
                "start_s": float(s),
                "end_s": float(e),
                "pitch": int(p),
                "amplitude": float(a),
                "bends": [int(b) for b in bends] if bends is not None else None,
            }
            for s, e, p, a, bends in events
        ),
        key=lambda n: (n["start_s"], n["pitch"]),
    )
    doc = {
        "comment": "Produced by models/scripts/basic_pitch_notes.py with basic-pitch "
        + getattr(basic_pitch, "__version__", "0.4.0") + " (ONNX model, default settings).",
        "sample_rate": SAMPLE_RATE,
        "seconds": SECONDS,
        "audio_sum": float(audio.astype(np.float64).sum()),
        "timbres": TIMBRES,
        "input_notes": NOTES,
        "notes": notes,
    }
    text = json.dumps(doc, indent=1)
    with open(out_path, "w") as f:
        f.write(text + "\n")
    print(len(notes), "notes;", "pitches", sorted({n["pitch"] for n in notes}))


if __name__ == "__main__":
    main()
