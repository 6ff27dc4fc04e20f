#!/usr/bin/env python3
"""Produce core/tests/data/basic_pitch_reference.json.

Runs the basic-pitch `nmp.onnx` graph once with Python onnxruntime on a fixed, formula-defined
input and stores a few hundred of its output values. The Rust test
(core/tests/inference_basic_pitch.rs) rebuilds the same input, runs the graph through `ort` and
compares. Only the numbers are committed, never the model.

Usage (one-off, not needed by the tests):
    python3 -m venv /tmp/ortvenv
    /tmp/ortvenv/bin/pip install onnxruntime==1.31.1 numpy
    /tmp/ortvenv/bin/python models/scripts/basic_pitch_reference.py \
        vendor/models/basic-pitch/nmp.onnx core/tests/data/basic_pitch_reference.json
"""

import hashlib
import json
import re
import sys

import numpy as np
import onnxruntime as ort

SAMPLE_RATE = 22050
LENGTH = 43844
INPUT = "serving_default_input_2:0"
OUTPUTS = {
    "StatefulPartitionedCall:1": "note",
    "StatefulPartitionedCall:2": "onset",
    "StatefulPartitionedCall:0": "contour",
}
# (frequency in Hz, start sample, amplitude): an A3, then an E4 and a C#5 entering later,
# so the window holds sustained notes and onsets.
PARTIALS = [(220.0, 0, 0.30), (329.63, 11025, 0.25), (554.37, 22050, 0.20)]


def reference_input():
    """x[n] = sum of a * sin(2*pi*f*(n - start)/22050) for n >= start; computed in f64, stored as f32."""
    n = np.arange(LENGTH, dtype=np.float64)
    x = np.zeros(LENGTH, dtype=np.float64)
    for freq, start, amp in PARTIALS:
        t = n - start
        x += np.where(t >= 0, amp * np.sin(2.0 * np.pi * freq * t / SAMPLE_RATE), 0.0)
    return x.astype(np.float32)


def grid_positions(shape):
    """A grid over (frame, bin): every 9th frame, about 10 bins per frame."""
    frames, bins = shape
    grid = [(f, b) for f in range(0, frames, 9) for b in range(0, bins, max(1, bins // 10))]
    return grid


def main():
    model, out_path = sys.argv[1], sys.argv[2]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    x = reference_input()
    results = session.run(list(OUTPUTS), {INPUT: x.reshape(1, LENGTH, 1)})
    with open(model, "rb") as f:
        model_sha = hashlib.sha256(f.read()).hexdigest()
    doc = {
        "comment": "Produced by models/scripts/basic_pitch_reference.py with Python onnxruntime "
        + ort.__version__ + "; compare within 1e-5.",
        "model_sha256": model_sha,
        "input": {
            "name": INPUT,
            "sample_rate": SAMPLE_RATE,
            "length": LENGTH,
            "partials": [{"freq": f, "start": s, "amp": a} for f, s, a in PARTIALS],
            "sum": float(x.astype(np.float64).sum()),
            "abs_sum": float(np.abs(x.astype(np.float64)).sum()),
        },
        "outputs": {},
    }
    for name, value in zip(OUTPUTS, results):
        arr = value[0]
        positions = grid_positions(arr.shape)
        # plus the positions of the 40 largest values, where the notes are
        order = np.argsort(arr, axis=None, kind="stable")[::-1][:40]
        top = [tuple(int(i) for i in np.unravel_index(k, arr.shape)) for k in order]
        seen = set()
        samples = []
        for f, b in positions + top:
            if (f, b) in seen:
                continue
            seen.add((f, b))
            samples.append([f, b, float(arr[f, b])])
        doc["outputs"][name] = {
            "role": OUTPUTS[name],
            "shape": [int(d) for d in value.shape],
            "sum": float(arr.astype(np.float64).sum()),
            "max": float(arr.max()),
            "min": float(arr.min()),
            "samples": samples,
        }
    text = json.dumps(doc, indent=1)
    # one [frame, bin, value] triple per line
    text = re.sub(r"\[\s+(\d+),\s+(\d+),\s+([-0-9.e]+)\s+\]", r"[\1, \2, \3]", text)
    with open(out_path, "w") as f:
        f.write(text + "\n")
    for name, out in doc["outputs"].items():
        print(name, out["role"], out["shape"], "sum", out["sum"], "max", out["max"], len(out["samples"]), "samples")


if __name__ == "__main__":
    main()
