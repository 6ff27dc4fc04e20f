//! Separating ahead with a model pack: the audio thread captures what the host plays (with its
//! timeline position), a capture thread cuts it into regions (a stretch of continuous playback),
//! a separation thread runs the chosen pack over each region and publishes the stems, and the
//! audio thread plays them back in sync with the transport wherever the audio it hears is the
//! audio that was separated (see [`mixsmith_core::separate::ahead`]).
//!
//! A file the user picks is separated the same way before the host plays it; the capture
//! thread finds where it sits on the timeline from the first audible frames of each stretch of
//! playback (bit for bit, see [`find_frames`]) and the whole file's stems are cached there, so
//! even a first pass plays the pack's stems.
//!
//! The audio thread never waits in realtime: cells not (yet) separated by the pack keep the live
//! DSP stems. Offline, a block whose audio is being separated right now, or whose stretch is
//! still being looked for in the picked file, waits for it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mixsmith_core::audio::{SampleFormat, read_file};
use mixsmith_core::inference::ModelPack;
use mixsmith_core::realtime::RenderMode;
use mixsmith_core::realtime::handoff::{HandoffReceiver, HandoffSender, handoff};
use mixsmith_core::separate::ahead::{
    CELL_FRAMES, CellValidator, SeparatedRegion, StemCache, cell_of, find_frames,
};
use mixsmith_core::separate::{
    DspSeparator, LiveSeparator, PackSeparator, STEMS, SeparateError, Stem, StemLayout,
    separate_buffer, write_stems,
};
use nice_plug::prelude::AtomicF32;
use rtrb::{Consumer, Producer, RingBuffer};

/// Seconds of playback the capture ring holds before the capture thread must have drained it.
const CAPTURE_SECONDS: f32 = 4.0;
/// Playback stopped this long ends a region.
const REGION_IDLE: Duration = Duration::from_millis(300);
/// The most audio, in seconds, the cache keeps (oldest regions go first).
const CACHE_SECONDS: f32 = 1800.0;
/// The longest region, in seconds; longer playback starts a new region.
const MAX_REGION_SECONDS: f32 = 600.0;
/// How long the threads sleep when there is nothing to do.
const IDLE_WAIT: Duration = Duration::from_millis(20);
/// Below this level a sample is silent: a stretch of playback is looked for in the picked file
/// from its first louder frame.
const AUDIBLE: f32 = 1e-4;

/// What the editor, the threads and the audio thread share.
#[derive(Debug, Default)]
pub struct AheadShared {
    /// The chosen pack's folder; empty for the DSP separator alone. Capture runs while set.
    pub pack: Mutex<String>,
    /// Mirrors `!pack.is_empty()` for the audio thread.
    armed: AtomicBool,
    /// The separation's progress, 0 to 1.
    pub progress: AtomicF32,
    /// A separation is running.
    pub busy: AtomicBool,
    /// The timeline range (start, end) being separated; offline renders wait for it.
    pending: (AtomicI64, AtomicI64),
    /// Frames of playback the capture ring had no room for.
    pub dropped_frames: AtomicU64,
    /// What the separation thread last did, for the editor.
    pub status: Mutex<String>,
    /// Regions and seconds in the cache, for the editor.
    pub cached: Mutex<(usize, f32)>,
    /// The picked file, separated, to be found on the timeline.
    picked: Mutex<Option<Arc<PickedFile>>>,
    /// Mirrors `picked.is_some()` for the audio thread.
    has_picked: AtomicBool,
    /// A stretch of playback is being looked for in the picked file from timeline position
    /// `aligning_from` on; an offline render waits before playing from there.
    aligning: AtomicBool,
    /// See `aligning`. The audio thread sets it where a stretch starts; the capture thread
    /// moves it past leading silence.
    aligning_from: AtomicI64,
}

impl AheadShared {
    /// Chooses the pack (a folder), or the DSP separator alone for an empty path.
    pub fn set_pack(&self, pack: &str) {
        if let Ok(mut current) = self.pack.lock() {
            *current = pack.to_owned();
        }
        self.armed.store(!pack.is_empty(), Ordering::Relaxed);
    }

    /// Replaces the status line the editor shows.
    pub fn set_status(&self, status: String) {
        if let Ok(mut current) = self.status.lock() {
            *current = status;
        }
    }

    /// A separation starts, of the timeline range `pending` (empty for a file).
    fn start_busy(&self, pending: std::ops::Range<i64>) {
        self.pending.0.store(pending.start, Ordering::Release);
        self.pending.1.store(pending.end, Ordering::Release);
        self.progress.store(0.0, Ordering::Relaxed);
        self.busy.store(true, Ordering::Release);
    }

    /// Whether timeline position `position` is being separated now.
    fn is_pending(&self, position: i64) -> bool {
        self.busy.load(Ordering::Acquire)
            && position >= self.pending.0.load(Ordering::Acquire)
            && position < self.pending.1.load(Ordering::Acquire)
    }

    /// Whether timeline position `position` is in a stretch still being looked for in the
    /// picked file.
    fn is_aligning(&self, position: i64) -> bool {
        self.aligning.load(Ordering::Acquire)
            && position >= self.aligning_from.load(Ordering::Acquire)
    }

    /// The stretch that started at `start` is done being looked for (unless a newer stretch
    /// took its place).
    fn done_aligning(&self, start: i64, searched_to: i64) {
        let current = self.aligning_from.load(Ordering::Acquire);
        if current >= start && current <= searched_to {
            self.aligning.store(false, Ordering::Release);
        }
    }

    /// Nothing of the stretch that started at `start` can be placed before `audible`: an
    /// offline render need not wait before it.
    fn aligning_past(&self, start: i64, audible: i64) {
        let _ = self
            .aligning_from
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                (current >= start && current < audible).then_some(audible)
            });
    }
}

/// A file the user picked, at the session's rate and channel count, and its pack stems.
#[derive(Debug)]
struct PickedFile {
    /// The file's name, for status lines.
    name: String,
    /// Planar audio.
    audio: Vec<Vec<f32>>,
    /// Its stems, per stem and channel.
    stems: [Vec<Vec<f32>>; STEMS],
}

/// Requests to the separation thread.
#[derive(Debug)]
pub enum AheadCommand {
    /// Writes the last captured region's (or picked file's) stems (the pack's, else the DSP
    /// separator's) into this folder.
    Export(PathBuf),
    /// Separates this file with the chosen pack, to be played where the host plays it.
    SeparateFile(PathBuf),
}

/// The picked file was found on the timeline: it starts at `start`; the stretch of playback
/// that started at `heard_from` was searched up to `searched_to`.
struct Placement {
    file: Arc<PickedFile>,
    start: i64,
    heard_from: i64,
    searched_to: i64,
}

/// The audio thread's side.
pub struct AheadAudio {
    /// Interleaved captured samples.
    samples: Producer<f32>,
    /// `(timeline position, frames)` of each captured block, pushed after its samples.
    blocks: Producer<(i64, usize)>,
    /// The stems separated so far.
    cache: HandoffReceiver<StemCache>,
    /// Which cells heard now equal the cached ones.
    validator: CellValidator,
    /// Channels of the input.
    channels: usize,
    /// The timeline position the next block continues playback at.
    next_position: Option<i64>,
    /// Shared state.
    shared: Arc<AheadShared>,
}

impl AheadAudio {
    /// Takes a block of input the host plays at `position` (`None` when stopped): captures it
    /// when a pack is chosen and checks its cells against the cache. Allocation-free.
    pub fn hear(&mut self, position: Option<i64>, input: &[&[f32]]) {
        // Take up a newly published cache even while stopped, so the sender's queue drains.
        self.cache.current();
        let Some(position) = position else {
            self.validator.interrupt();
            self.next_position = None;
            return;
        };
        self.validator.feed(position, input);
        let frames = input.first().map_or(0, |c| c.len());
        let continues = self.next_position == Some(position);
        self.next_position = Some(position + frames as i64);
        if !self.shared.armed.load(Ordering::Relaxed) {
            return;
        }
        if !continues && self.shared.has_picked.load(Ordering::Acquire) {
            self.shared.aligning_from.store(position, Ordering::Release);
            self.shared.aligning.store(true, Ordering::Release);
        }
        let samples = frames * self.channels;
        if self.samples.slots() < samples || self.blocks.slots() == 0 {
            self.shared
                .dropped_frames
                .fetch_add(frames as u64, Ordering::Relaxed);
            return;
        }
        if let Ok(chunk) = self.samples.write_chunk_uninit(samples) {
            chunk.fill_from_iter((0..frames).flat_map(|f| input.iter().map(move |c| c[f])));
            let _ = self.blocks.push((position, frames));
        }
    }

    /// Replaces the live stems in `separated` (the separator's channel order, as long as the
    /// block) with the cached ones wherever the audio heard `latency` frames before each output
    /// frame was separated by the pack. `position` is the block's timeline position. Offline,
    /// first waits while that audio is being separated or looked for in the picked file.
    pub fn overlay(
        &mut self,
        position: i64,
        latency: usize,
        separated: &mut [&mut [f32]],
        mode: RenderMode,
    ) {
        let frames = separated.first().map_or(0, |c| c.len());
        let first = position - latency as i64;
        if mode == RenderMode::Offline {
            let last = first + frames as i64 - 1;
            while self.shared.is_pending(first)
                || self.shared.is_pending(last)
                || self.shared.is_aligning(last)
            {
                thread::sleep(Duration::from_micros(200));
            }
        }
        let Some(cache) = self.cache.current() else {
            return;
        };
        let mut offset = 0;
        while offset < frames {
            let source = first + offset as i64;
            let cell = cell_of(source);
            let cell_end = (cell + 1) * CELL_FRAMES as i64;
            let span = ((cell_end - source) as usize).min(frames - offset);
            if self.validator.matches(cell, cache)
                && let Some(region) = cache.region_at(source)
                && region.covers(source + span as i64 - 1)
            {
                let from = (source - region.start()) as usize;
                for stem in Stem::ALL {
                    for (channel, samples) in region.stems()[stem.index()].iter().enumerate() {
                        let out = LiveSeparator::output_channel(stem, channel, self.channels);
                        separated[out][offset..offset + span]
                            .copy_from_slice(&samples[from..from + span]);
                    }
                }
            }
            offset += span;
        }
    }
}

/// The two threads behind [`AheadAudio`]; dropping this stops and joins them.
pub struct AheadThreads {
    /// Tells both threads to stop.
    shutdown: Arc<AtomicBool>,
    /// Commands for the separation thread.
    commands: Sender<AheadCommand>,
    /// The capture and separation threads.
    threads: Vec<JoinHandle<()>>,
}

impl AheadThreads {
    /// Starts the threads for `channels` at `sample_rate` Hz and returns them with the audio
    /// thread's side.
    pub fn start(
        sample_rate: u32,
        channels: usize,
        shared: Arc<AheadShared>,
    ) -> std::io::Result<(Self, AheadAudio)> {
        let ring_frames = (CAPTURE_SECONDS * sample_rate as f32) as usize;
        let (samples_tx, samples_rx) = RingBuffer::new(ring_frames * channels);
        let (blocks_tx, blocks_rx) = RingBuffer::new(ring_frames / 16 + 64);
        let (cache_tx, cache_rx) = handoff();
        let (regions_tx, regions_rx) = crossbeam_channel::unbounded();
        let (commands_tx, commands_rx) = crossbeam_channel::unbounded();
        let (placements_tx, placements_rx) = crossbeam_channel::unbounded();
        let shutdown = Arc::new(AtomicBool::new(false));
        let capture = Capture {
            samples: samples_rx,
            blocks: blocks_rx,
            channels,
            max_frames: (MAX_REGION_SECONDS * sample_rate as f32) as usize,
            regions: regions_tx,
            placements: placements_tx,
            shared: Arc::clone(&shared),
        };
        let separation = Separation {
            sample_rate,
            channels,
            regions: regions_rx,
            commands: commands_rx,
            placements: placements_rx,
            cache: StemCache::default(),
            publisher: cache_tx,
            loaded: None,
            last: None,
            shared: Arc::clone(&shared),
        };
        let stop = Arc::clone(&shutdown);
        let capture_thread = thread::Builder::new()
            .name("mixsmith-stems-capture".into())
            .spawn(move || capture.run(&stop))?;
        let stop = Arc::clone(&shutdown);
        let separation_thread = thread::Builder::new()
            .name("mixsmith-stems-separate".into())
            .spawn(move || separation.run(&stop))?;
        shared.set_pack(&shared.pack.lock().map(|p| p.clone()).unwrap_or_default());
        let audio = AheadAudio {
            samples: samples_tx,
            blocks: blocks_tx,
            cache: cache_rx,
            validator: CellValidator::default(),
            channels,
            next_position: None,
            shared,
        };
        Ok((
            Self {
                shutdown,
                commands: commands_tx,
                threads: vec![capture_thread, separation_thread],
            },
            audio,
        ))
    }

    /// A sender for the separation thread's commands (for the editor).
    pub fn commands(&self) -> Sender<AheadCommand> {
        self.commands.clone()
    }
}

impl Drop for AheadThreads {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Release);
        for thread in self.threads.drain(..) {
            // A thread that panicked has stopped already; nothing is left to clean up.
            let _ = thread.join();
        }
    }
}

/// Captured playback, one continuous stretch.
struct Region {
    /// The timeline position of the first frame.
    start: i64,
    /// The audio, planar.
    audio: Vec<Vec<f32>>,
    /// The first audible frame, once heard (where the picked file is looked for).
    audible: Option<usize>,
    /// Frames checked for `audible` so far.
    scanned: usize,
    /// The picked file was looked for in this region.
    searched: bool,
}

impl Region {
    fn frames(&self) -> usize {
        self.audio.first().map_or(0, Vec::len)
    }
}

/// The capture thread: drains the audio thread's ring into regions.
struct Capture {
    samples: Consumer<f32>,
    blocks: Consumer<(i64, usize)>,
    channels: usize,
    max_frames: usize,
    regions: Sender<Region>,
    /// Where the picked file was found.
    placements: Sender<Placement>,
    shared: Arc<AheadShared>,
}

impl Capture {
    fn run(mut self, shutdown: &AtomicBool) {
        let mut current: Option<Region> = None;
        let mut last_data = Instant::now();
        while !shutdown.load(Ordering::Acquire) {
            let mut got = false;
            while let Ok((position, frames)) = self.blocks.pop() {
                got = true;
                let continues = current.as_ref().is_some_and(|r| {
                    r.start + r.frames() as i64 == position && r.frames() < self.max_frames
                });
                if !continues {
                    self.finish(current.take());
                }
                let region = current.get_or_insert_with(|| Region {
                    start: position,
                    audio: vec![Vec::new(); self.channels],
                    audible: None,
                    scanned: 0,
                    searched: false,
                });
                let Ok(chunk) = self.samples.read_chunk(frames * self.channels) else {
                    break;
                };
                let (a, b) = chunk.as_slices();
                for (index, sample) in a.iter().chain(b).enumerate() {
                    region.audio[index % self.channels].push(*sample);
                }
                chunk.commit_all();
                self.look_for_picked_file(region);
            }
            if got {
                last_data = Instant::now();
            } else if current.is_some() && last_data.elapsed() > REGION_IDLE {
                self.finish(current.take());
            } else {
                thread::sleep(IDLE_WAIT);
            }
        }
    }

    /// Looks for `region` (still growing) in the picked file, once a cell of it is audible.
    fn look_for_picked_file(&self, region: &mut Region) {
        if region.searched || !self.shared.has_picked.load(Ordering::Acquire) {
            return;
        }
        let frames = region.frames();
        let end = region.start + frames as i64;
        if region.audible.is_none() {
            region.audible = (region.scanned..frames)
                .find(|&f| region.audio.iter().any(|c| c[f].abs() > AUDIBLE));
            region.scanned = frames;
        }
        // The picked file's stems are cached from the cell its start falls in.
        let cell_start = |position: i64| cell_of(position) * CELL_FRAMES as i64;
        let Some(audible) = region.audible else {
            self.shared.aligning_past(region.start, cell_start(end));
            return;
        };
        self.shared
            .aligning_past(region.start, cell_start(region.start + audible as i64));
        if frames < audible + CELL_FRAMES {
            return;
        }
        region.searched = true;
        let picked = self.shared.picked.lock().ok().and_then(|p| p.clone());
        let probe: Vec<Vec<f32>> = region
            .audio
            .iter()
            .map(|c| c[audible..audible + CELL_FRAMES].to_vec())
            .collect();
        let found = picked.and_then(|file| {
            let offset = find_frames(&file.audio, &probe)?;
            Some((file, offset))
        });
        match found {
            Some((file, offset)) => {
                let _ = self.placements.send(Placement {
                    file,
                    start: region.start + audible as i64 - offset as i64,
                    heard_from: region.start,
                    searched_to: end,
                });
            }
            None => self.shared.done_aligning(region.start, end),
        }
    }

    /// Hands a finished region to the separation thread (regions shorter than a cell are
    /// dropped: there is nothing in them the cache could play).
    fn finish(&self, region: Option<Region>) {
        let Some(region) = region else {
            return;
        };
        if !region.searched {
            let end = region.start + region.frames() as i64;
            self.shared.done_aligning(region.start, end);
        }
        if region.frames() >= CELL_FRAMES {
            let _ = self.regions.send(region);
        }
    }
}

/// The separation thread: runs the chosen pack over each captured region and publishes the
/// cache; exports stems on request.
struct Separation {
    sample_rate: u32,
    channels: usize,
    regions: Receiver<Region>,
    commands: Receiver<AheadCommand>,
    /// Where the capture thread found the picked file.
    placements: Receiver<Placement>,
    /// Every region separated so far (what the audio thread has).
    cache: StemCache,
    publisher: HandoffSender<StemCache>,
    /// The loaded pack and the folder it came from.
    loaded: Option<(String, PackSeparator)>,
    /// What "Export stems" writes: the last region captured or file picked.
    last: Option<LastStems>,
    shared: Arc<AheadShared>,
}

/// The last region captured or file picked, for "Export stems".
enum LastStems {
    /// Playback the pack did not separate (none chosen, or it failed): the DSP separator
    /// splits it on export.
    Unseparated(Region),
    /// Playback the pack separated.
    Separated(Arc<SeparatedRegion>),
    /// A picked file.
    Picked(Arc<PickedFile>),
}

impl Separation {
    fn run(mut self, shutdown: &AtomicBool) {
        while !shutdown.load(Ordering::Acquire) {
            self.publisher.collect_retired();
            match self.commands.try_recv() {
                Ok(AheadCommand::Export(folder)) => {
                    let status = self.export(&folder);
                    self.shared.set_status(status);
                }
                Ok(AheadCommand::SeparateFile(path)) => {
                    let status = self.separate_file(&path, shutdown);
                    self.shared.set_status(status);
                }
                Err(_) => {}
            }
            while let Ok(placement) = self.placements.try_recv() {
                self.place(placement, shutdown);
            }
            match self.regions.recv_timeout(IDLE_WAIT) {
                Ok(region) => self.separate(region, shutdown),
                Err(_) => continue,
            }
        }
    }

    /// Loads the pack chosen now into `loaded` (once per folder); false for none.
    fn load_pack(&mut self) -> Result<bool, String> {
        let chosen = self
            .shared
            .pack
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        if chosen.is_empty() {
            return Ok(false);
        }
        if self
            .loaded
            .as_ref()
            .is_none_or(|(folder, _)| *folder != chosen)
        {
            self.loaded = None;
            let pack = ModelPack::load(Path::new(&chosen)).map_err(|e| e.to_string())?;
            let separator = PackSeparator::load(&[pack]).map_err(|e| e.to_string())?;
            self.loaded = Some((chosen, separator));
        }
        Ok(true)
    }

    fn separate(&mut self, region: Region, shutdown: &AtomicBool) {
        if self.cache.holds(region.start, &region.audio) {
            // Played again unchanged: its stems are cached already.
            return;
        }
        // Pending from now on, loading the pack included, so an offline render waits for it.
        self.shared
            .start_busy(region.start..region.start + region.frames() as i64);
        self.separate_pending(region, shutdown);
        self.shared.busy.store(false, Ordering::Release);
    }

    /// Separates `region` (marked pending) with the chosen pack and publishes the stems.
    fn separate_pending(&mut self, region: Region, shutdown: &AtomicBool) {
        match self.load_pack() {
            Ok(true) => {}
            Ok(false) => {
                self.last = Some(LastStems::Unseparated(region));
                return;
            }
            Err(error) => {
                self.shared
                    .set_status(format!("The model pack cannot be used: {error}"));
                self.last = Some(LastStems::Unseparated(region));
                return;
            }
        }
        let Some((_, separator)) = &self.loaded else {
            return;
        };
        let seconds = region.frames() as f32 / self.sample_rate as f32;
        let shared = &self.shared;
        let started = Instant::now();
        let result =
            separate_showing_progress(separator, &region.audio, self.sample_rate, shared, shutdown);
        match result {
            Ok(stems) => {
                let separated = Arc::new(SeparatedRegion::new(region.start, &region.audio, stems));
                self.publish(Arc::clone(&separated), shutdown);
                self.shared.set_status(format!(
                    "Separated {seconds:.1} s of playback in {:.1} s.",
                    started.elapsed().as_secs_f32()
                ));
                self.last = Some(LastStems::Separated(separated));
            }
            Err(error) => {
                self.shared
                    .set_status(format!("Separation failed: {error}"));
                self.last = Some(LastStems::Unseparated(region));
            }
        }
    }

    /// Adds `region` to the cache and hands the new cache to the audio thread.
    fn publish(&mut self, region: Arc<SeparatedRegion>, shutdown: &AtomicBool) {
        let max = (CACHE_SECONDS * self.sample_rate as f32) as usize;
        self.cache = self.cache.with_region(region, max);
        let cache = Arc::new(self.cache.clone());
        // The audio thread picks swaps up every block; a full queue clears in one.
        while self.publisher.publish(Some(Arc::clone(&cache))).is_err()
            && !shutdown.load(Ordering::Acquire)
        {
            thread::sleep(IDLE_WAIT);
        }
        let total: usize = self.cache.regions().iter().map(|r| r.frames()).sum();
        if let Ok(mut cached) = self.shared.cached.lock() {
            *cached = (
                self.cache.regions().len(),
                total as f32 / self.sample_rate as f32,
            );
        }
    }

    /// Separates the file at `path` with the chosen pack and keeps it to be placed where the
    /// host plays it; returns the status line.
    fn separate_file(&mut self, path: &Path, shutdown: &AtomicBool) -> String {
        match self.load_pack() {
            Ok(true) => {}
            Ok(false) => {
                return "Choose a model pack first: a file is separated with it.".to_owned();
            }
            Err(error) => return format!("The model pack cannot be used: {error}"),
        }
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let buffer = match read_file(path) {
            Ok(buffer) => buffer,
            Err(error) => return format!("Cannot read {}: {error}", path.display()),
        };
        if buffer.sample_rate() != self.sample_rate {
            return format!(
                "{name} is at {} Hz and the session at {} Hz: pick the file the track plays.",
                buffer.sample_rate(),
                self.sample_rate
            );
        }
        let audio: Vec<Vec<f32>> = match (buffer.channels(), self.channels) {
            (planes, channels) if planes.len() == channels => planes.to_vec(),
            ([mono], 2) => vec![mono.clone(), mono.clone()],
            ([left, right], 1) => {
                vec![left.iter().zip(right).map(|(l, r)| 0.5 * (l + r)).collect()]
            }
            (planes, channels) => {
                return format!(
                    "{name} has {} channels and the track {channels}.",
                    planes.len()
                );
            }
        };
        let Some((_, separator)) = &self.loaded else {
            return "The model pack is not loaded.".to_owned();
        };
        let shared = &self.shared;
        // Nothing on the timeline waits for a file.
        shared.start_busy(0..0);
        let started = Instant::now();
        let result =
            separate_showing_progress(separator, &audio, self.sample_rate, shared, shutdown);
        shared.busy.store(false, Ordering::Release);
        let stems = match result {
            Ok(stems) => stems,
            Err(error) => return format!("Separating {name} failed: {error}"),
        };
        let seconds = audio[0].len() as f32 / self.sample_rate as f32;
        let file = Arc::new(PickedFile { name, audio, stems });
        if let Ok(mut picked) = self.shared.picked.lock() {
            *picked = Some(Arc::clone(&file));
        }
        self.shared.has_picked.store(true, Ordering::Release);
        let status = format!(
            "Separated {} ({seconds:.1} s) in {:.1} s: its stems play wherever the host plays it.",
            file.name,
            started.elapsed().as_secs_f32()
        );
        self.last = Some(LastStems::Picked(file));
        status
    }

    /// Caches the picked file's stems where the capture thread found it on the timeline.
    fn place(&mut self, placement: Placement, shutdown: &AtomicBool) {
        let file = &placement.file;
        let frames = file.audio[0].len();
        let placed =
            self.cache.regions().iter().any(|r| {
                r.covers(placement.start) && r.covers(placement.start + frames as i64 - 1)
            });
        if !placed {
            // Padded with silence to whole cells, so where the track is silent around the file
            // (an item on an empty track) its first and last cells play the pack's stems too.
            let before = placement.start.rem_euclid(CELL_FRAMES as i64) as usize;
            let after = (CELL_FRAMES - (before + frames) % CELL_FRAMES) % CELL_FRAMES;
            let pad = |planes: &[Vec<f32>]| -> Vec<Vec<f32>> {
                planes
                    .iter()
                    .map(|plane| {
                        let mut padded = vec![0.0; before];
                        padded.extend_from_slice(plane);
                        padded.resize(before + frames + after, 0.0);
                        padded
                    })
                    .collect()
            };
            let stems = std::array::from_fn(|stem| pad(&file.stems[stem]));
            let start = placement.start - before as i64;
            let region = SeparatedRegion::new(start, &pad(&file.audio), stems);
            self.publish(Arc::new(region), shutdown);
            self.shared.set_status(format!(
                "Found {} on the timeline at {:.2} s: its stems play from the model pack.",
                file.name,
                placement.start as f64 / f64::from(self.sample_rate)
            ));
        }
        self.shared
            .done_aligning(placement.heard_from, placement.searched_to);
    }

    /// Writes the last captured region's stems into `folder`; returns the status line.
    fn export(&self, folder: &Path) -> String {
        let Some(last) = &self.last else {
            return "Nothing captured yet: play the part to export first, or pick a file."
                .to_owned();
        };
        let (stems, source) = match last {
            LastStems::Separated(separated) => (separated.stems().clone(), "the model pack"),
            LastStems::Picked(file) => (file.stems.clone(), "the model pack"),
            LastStems::Unseparated(region) => {
                let Ok(mut dsp) = DspSeparator::new(self.sample_rate, self.channels) else {
                    return "The DSP separator cannot run here.".to_owned();
                };
                let block = dsp.block_frames();
                (
                    separate_buffer(&mut dsp, &region.audio, block),
                    "the DSP separator",
                )
            }
        };
        let stems: &[Vec<Vec<f32>>; STEMS] = &stems;
        match write_stems(folder, stems, self.sample_rate, SampleFormat::Int24) {
            Ok(summary) => format!(
                "Exported {:.1} s of stems from {source} to {}.",
                summary.frames as f32 / self.sample_rate as f32,
                folder.display()
            ),
            Err(error) => format!("Export failed: {error}"),
        }
    }
}

/// Separates `audio` with `separator` into the four stems, showing its progress in `shared`.
fn separate_showing_progress(
    separator: &PackSeparator,
    audio: &[Vec<f32>],
    sample_rate: u32,
    shared: &AheadShared,
    shutdown: &AtomicBool,
) -> Result<[Vec<Vec<f32>>; STEMS], SeparateError> {
    separator.separate(
        audio,
        sample_rate,
        StemLayout::Four,
        &mut |done, total| {
            shared
                .progress
                .store(done as f32 / total.max(1) as f32, Ordering::Relaxed);
        },
        shutdown,
    )
}
