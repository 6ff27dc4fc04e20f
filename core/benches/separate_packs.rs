//! Model-pack separation: the engine's own work around the graphs (resampling, STFTs, chunking,
//! overlap-add, cross-fades, the stem mapping) against the time the graphs take, on one core.
//!
//! The graphs are the generated test graphs (`inference::test_graph`: an "MDX" low-pass mask at
//! UVR's usual 6144 / 2048 / 256, and a "demucs" graph of fixed source weights), which cost
//! about as little as a graph can with these tensor sizes; so the ratio printed is an upper
//! bound of the overhead's share, and the milliseconds per graph run are the cost a real model
//! adds its own time to. Graph time = the same number of runs of the same session on inputs of
//! the same shapes, measured in the same process.
//!
//! Then the peak memory (VmHWM) of a child process separating a 3-minute and a 60-minute file
//! with the MDX pack (`separate_stream`, sections of 180 s, discarding the stems so the long
//! run needs no gigabytes of disk), and their ratio. The child is this bench binary re-run with
//! `MIXSMITH_BENCH_PACKS_CHILD=<file>`.
//!
//! Needs ONNX Runtime (`ORT_DYLIB_PATH`, else `<workspace>/vendor/`); skipped without it.

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use mixsmith_core::audio::AudioReader;
use mixsmith_core::inference::test_graph::{demucs_weighted, mdx_low_pass, write_pack};
use mixsmith_core::inference::{InputTensor, ModelPack};
use mixsmith_core::separate::{PackSeparator, Stem, StemLayout};

const RATE: u32 = 44_100;
const SECONDS: usize = 60;

fn audio() -> Vec<Vec<f32>> {
    let mut state = 1u32;
    (0..2)
        .map(|c| {
            (0..SECONDS * RATE as usize)
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    let t = i as f32 / RATE as f32;
                    0.3 * (std::f32::consts::TAU * 110.0 * t + c as f32).sin()
                        + 0.1 * (state as f32 / u32::MAX as f32 - 0.5)
                })
                .collect()
        })
        .collect()
}

/// Times a whole separation and the same graph runs alone; prints both and the ratio.
fn report(label: &str, pack: &ModelPack, layout: StemLayout, shapes: &[(&str, Vec<usize>)]) {
    let sep = PackSeparator::load(std::slice::from_ref(pack)).expect("load pack");
    let audio = audio();
    let runs = sep.graph_runs(audio[0].len(), RATE, audio.len());
    let cancel = AtomicBool::new(false);
    let total = common::best_of(3, || {
        sep.separate(&audio, RATE, layout, &mut |_, _| {}, &cancel)
            .expect("separate");
    });
    let file = pack.onnx_files().next().expect("one graph").path.clone();
    let session = pack.open_session(&file.to_string_lossy()).expect("session");
    let buffers: Vec<Vec<f32>> = shapes
        .iter()
        .map(|(_, s)| vec![0.01; s.iter().product()])
        .collect();
    let graph = common::best_of(3, || {
        for _ in 0..runs {
            let inputs: Vec<(&str, InputTensor<'_>)> = shapes
                .iter()
                .zip(&buffers)
                .map(|((name, shape), data)| (*name, InputTensor::F32 { shape, data }))
                .collect();
            std::hint::black_box(session.run(&inputs).expect("run"));
        }
    });
    let around = total.saturating_sub(graph);
    println!(
        "{label}, {SECONDS} s stereo: {:.2} s in all ({:.0}x real time), {runs} graph runs \
         {:.2} s; the work around them {:.2} s = {:.0} ms per run = {:.2}x the graph time",
        total.as_secs_f64(),
        SECONDS as f64 / total.as_secs_f64(),
        graph.as_secs_f64(),
        around.as_secs_f64(),
        around.as_secs_f64() * 1000.0 / runs as f64,
        around.as_secs_f64() / graph.as_secs_f64().max(1e-9),
    );
}

fn main() {
    if !common::load_runtime("separate_packs") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mdx = dir.path().join("mdx");
    write_mdx_pack(&mdx);
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        let t = Instant::now();
        stream_through_pack(&mdx, Path::new(&path));
        println!("{} {}", common::vm_hwm_kib(), t.elapsed().as_secs_f64());
        return;
    }
    let demucs = dir.path().join("demucs");
    write_pack(
        &demucs,
        "htdemucs.onnx",
        &demucs_weighted(&[0.1, 0.2, 0.3, 0.4], &[0.4, 0.3, 0.2, 0.1]),
        "name = \"demucs\"\ntask = \"separate\"\nconvention = \"demucs-onnx\"\n\
         sample_rate = 44100\nstems = [\"drums\", \"bass\", \"other\", \"vocals\"]\n",
    )
    .expect("write demucs pack");
    report(
        "mdx 6144/2048/256 (vocals + no_vocals)",
        &ModelPack::load(&mdx).expect("mdx pack"),
        StemLayout::Two(Stem::Vocals),
        &[("input", vec![1, 4, 2048, 256])],
    );
    report(
        "demucs-onnx, 4 sources",
        &ModelPack::load(&demucs).expect("demucs pack"),
        StemLayout::Four,
        &[("input", vec![1, 2, 343_980]), ("x", vec![1, 4, 2048, 336])],
    );

    let short = dir.path().join("3min.wav");
    common::write_test_wav(&short, RATE, 180);
    let long = dir.path().join("60min.wav");
    common::write_test_wav(&long, RATE, 3600);
    let (short_kib, short_t) = common::child_peak(CHILD_ENV, &short);
    let (long_kib, long_t) = common::child_peak(CHILD_ENV, &long);
    println!(
        "peak memory (VmHWM of a child separating with the mdx pack, sections of 180 s): \
         3 min {:.1} MiB ({:.1} s), 60 min {:.1} MiB ({:.1} s): ratio {:.2} (target <= 1.5)",
        short_kib as f64 / 1024.0,
        short_t.as_secs_f64(),
        long_kib as f64 / 1024.0,
        long_t.as_secs_f64(),
        long_kib as f64 / short_kib as f64
    );
}

const CHILD_ENV: &str = "MIXSMITH_BENCH_PACKS_CHILD";

/// Writes the MDX low-pass test pack (UVR's usual 6144 / 2048 / 256) into `dir`.
fn write_mdx_pack(dir: &Path) {
    write_pack(
        dir,
        "model.onnx",
        &mdx_low_pass(6144, 2048, Some(256), 500.0),
        "name = \"mdx\"\ntask = \"separate\"\nconvention = \"mdx\"\nsample_rate = 44100\n\
         stems = [\"vocals\"]\n[params]\nn_fft = 6144\ndim_f = 2048\ndim_t = 256\n",
    )
    .expect("write mdx pack");
}

/// Separates the file at `path` with the pack in `pack_dir` as `mixsmith separate --model`
/// does, discarding the stems.
fn stream_through_pack(pack_dir: &Path, path: &Path) {
    let pack = ModelPack::load(pack_dir).expect("mdx pack");
    let separator = PackSeparator::load(&[pack]).expect("load pack");
    let mut reader = AudioReader::open(path).expect("open");
    let spec = reader.spec().clone();
    separator
        .separate_stream(
            &mut reader,
            spec.sample_rate,
            spec.channels,
            StemLayout::Two(Stem::Vocals),
            &mut |stems, count| {
                std::hint::black_box((stems, count));
                Ok(())
            },
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .expect("separate");
}
