"""Compares Mixsmith's F0 from the exported pitch graphs with torchcrepe's and torchfcpe's own.

    MIXSMITH_PITCH_COMPARE_DIR=DIR cargo test -p mixsmith-core --test pitch_export
    vendor/export-venv/bin/python xtask/scripts/compare_pitch.py DIR

DIR then holds melody.wav (16 kHz), truth.txt (the true F0 per 10 ms frame, -1 where not
scored) and <model>.core.txt (Mixsmith's F0 per frame, 0 unvoiced). The reference is what RVC
does: torchcrepe.predict (hop 160, 50..1100 Hz, batch 512, Viterbi), a median filter of 3 on
the periodicity, a mean filter of 3 on the pitch, unvoiced below 0.1; and torchfcpe's bundled
model's infer (local_argmax, threshold 0.006). CREPE is run twice: as published (with its
random +-20 cent dither, seeded) and with the dither off (what Mixsmith implements).
"""

import os
import sys

import numpy as np
import soundfile
import torch


def cents(a, b):
    return np.abs(1200 * np.log2(a / b))


def report(name, ref, core, truth):
    n = min(len(ref), len(core), len(truth))
    ref, core, truth = ref[:n], core[:n], truth[:n]
    both = (ref > 0) & (core > 0)
    scored = truth > 0
    diff = cents(ref[both], core[both])
    print(f"{name}: {n} frames; voicing differs in {int(((ref > 0) != (core > 0)).sum())}; "
          f"where both voiced ({int(both.sum())}) core vs Python: median {np.median(diff):.3f} "
          f"cents, max {diff.max():.3f}")
    for label, f0 in (("Python", ref), ("core", core)):
        ok = scored & (f0 > 0)
        err = cents(f0[ok], truth[ok])
        print(f"    {label:6} vs truth: median {np.median(err):.2f} cents, "
              f"95th percentile {np.percentile(err, 95):.2f}, {int((scored & (f0 <= 0)).sum())} "
              f"of {int(scored.sum())} note frames unvoiced")


def crepe(audio, model, dither):
    import torchcrepe

    if not dither:
        torchcrepe.convert.dither = lambda c: c
    np.random.seed(0)
    f0, pd = torchcrepe.predict(audio, 16000, 160, 50, 1100, model, batch_size=512,
                                device="cpu", return_periodicity=True)
    pd = torchcrepe.filter.median(pd, 3)
    f0 = torchcrepe.filter.mean(f0, 3)
    f0[pd < 0.1] = 0
    return f0[0].numpy()


def main():
    folder = sys.argv[1]
    wav, rate = soundfile.read(os.path.join(folder, "melody.wav"), dtype="float32")
    assert rate == 16000
    truth = np.loadtxt(os.path.join(folder, "truth.txt"))
    audio = torch.from_numpy(wav)[None]
    torch.set_grad_enabled(False)
    for model in ("tiny", "full"):
        path = os.path.join(folder, f"crepe-{model}.core.txt")
        if not os.path.exists(path):
            continue
        core = np.loadtxt(path)
        import torchcrepe.convert as convert

        original = convert.dither
        report(f"crepe-{model} (torchcrepe with dither)", crepe(audio, model, True), core, truth)
        report(f"crepe-{model} (torchcrepe, dither off)", crepe(audio, model, False), core, truth)
        convert.dither = original
    path = os.path.join(folder, "fcpe.core.txt")
    if os.path.exists(path):
        from torchfcpe import spawn_bundled_infer_model

        fcpe = spawn_bundled_infer_model(device="cpu")
        f0 = fcpe.infer(audio[:, :, None], sr=16000, decoder_mode="local_argmax",
                        threshold=0.006)[0, :, 0].numpy()
        report("fcpe (torchfcpe infer)", f0, np.loadtxt(path), truth)


if __name__ == "__main__":
    main()
