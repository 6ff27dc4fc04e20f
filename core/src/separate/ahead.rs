//! Separating ahead of playback: stems a model pack computed for stretches of the host's
//! timeline, and the audio thread's check that what the host plays now is still what was
//! separated.
//!
//! The timeline is cut into cells of [`CELL_FRAMES`] frames at multiples of it. A
//! [`SeparatedRegion`] keeps a hash of every whole cell of the audio it was separated from; the
//! audio thread's [`CellValidator`] hashes the input it hears, cell by cell, and a cell's cached
//! stems are played only when the two hashes agree. An edited cell (other audio at the same
//! place) falls back to the live separator until it is separated again; an unchanged one never
//! is.

use std::sync::Arc;

use super::STEMS;

/// Frames per cell of the timeline (93 ms at 44.1 kHz).
pub const CELL_FRAMES: usize = 4096;

/// Recent cells whose hash the validator remembers (about 6 s at 44.1 kHz): more than a
/// separator's latency plus a host block.
const VERDICTS: usize = 64;

/// The cell holding timeline position `position`.
pub fn cell_of(position: i64) -> i64 {
    position.div_euclid(CELL_FRAMES as i64)
}

/// FNV-1a over the bits of a cell's samples, frame by frame, channel by channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellHasher(u64);

impl Default for CellHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl CellHasher {
    /// Adds one sample.
    pub fn add(&mut self, sample: f32) {
        for byte in sample.to_bits().to_le_bytes() {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash so far.
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// The first whole cell of `input` (planar) played from timeline `start`, and the hash of every
/// whole cell from there.
pub fn cell_hashes(start: i64, input: &[Vec<f32>]) -> (i64, Vec<u64>) {
    let frames = input.first().map_or(0, Vec::len);
    let first_cell = cell_of(start + CELL_FRAMES as i64 - 1);
    let end_cell = cell_of(start + frames as i64);
    let hashes = (first_cell..end_cell)
        .map(|cell| {
            let offset = (cell * CELL_FRAMES as i64 - start) as usize;
            let mut hasher = CellHasher::default();
            for frame in offset..offset + CELL_FRAMES {
                for channel in input {
                    hasher.add(channel[frame]);
                }
            }
            hasher.finish()
        })
        .collect();
    (first_cell, hashes)
}

/// The hash of a cell of `channels` channels of zeros.
fn silent_cell_hash(channels: usize) -> u64 {
    let mut hasher = CellHasher::default();
    (0..CELL_FRAMES * channels).for_each(|_| hasher.add(0.0));
    hasher.finish()
}

/// Where the frames of `probe` occur in `audio` (both planar, with the same channels), bit for
/// bit: the offset of the first such place, or `None`. The search keys on the probe's loudest
/// sample, so a silent probe is never found (silence could be anywhere).
pub fn find_frames(audio: &[Vec<f32>], probe: &[Vec<f32>]) -> Option<usize> {
    let length = probe.first()?.len();
    let total = audio.first()?.len();
    if audio.len() != probe.len() || length == 0 || total < length {
        return None;
    }
    let (key, peak) = probe
        .iter()
        .enumerate()
        .flat_map(|(channel, samples)| {
            samples
                .iter()
                .enumerate()
                .map(move |(frame, x)| ((channel, frame), *x))
        })
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))?;
    if peak == 0.0 || !peak.is_finite() {
        return None;
    }
    let (channel, frame) = key;
    audio[channel][frame..=total - length + frame]
        .iter()
        .enumerate()
        .filter(|(_, x)| x.to_bits() == peak.to_bits())
        .map(|(offset, _)| offset)
        .find(|&offset| {
            audio.iter().zip(probe).all(|(a, p)| {
                a[offset..offset + length]
                    .iter()
                    .zip(p)
                    .all(|(a, p)| a.to_bits() == p.to_bits())
            })
        })
}

/// A stretch of the timeline and the stems a model pack separated it into.
#[derive(Debug, Clone, PartialEq)]
pub struct SeparatedRegion {
    /// The timeline position of the first frame.
    start: i64,
    /// Per stem (in [`super::Stem::ALL`] order), per channel, the stem's samples.
    stems: [Vec<Vec<f32>>; STEMS],
    /// The first whole cell inside the region.
    first_cell: i64,
    /// The hash of every whole cell inside the region, from `first_cell` on.
    hashes: Vec<u64>,
}

impl SeparatedRegion {
    /// The region starting at timeline position `start` whose `input` (planar) separated into
    /// `stems` (each as long as the input).
    pub fn new(start: i64, input: &[Vec<f32>], stems: [Vec<Vec<f32>>; STEMS]) -> Self {
        let (first_cell, hashes) = cell_hashes(start, input);
        Self {
            start,
            stems,
            first_cell,
            hashes,
        }
    }

    /// The timeline position of the first frame.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// The region's length in frames.
    pub fn frames(&self) -> usize {
        self.stems[0].first().map_or(0, Vec::len)
    }

    /// The stems, per stem and channel.
    pub fn stems(&self) -> &[Vec<Vec<f32>>; STEMS] {
        &self.stems
    }

    /// The hash of whole cell `cell`, if the region holds all of it.
    pub fn cell_hash(&self, cell: i64) -> Option<u64> {
        let index = usize::try_from(cell - self.first_cell).ok()?;
        self.hashes.get(index).copied()
    }

    /// Whether the region holds timeline position `position`.
    pub fn covers(&self, position: i64) -> bool {
        position >= self.start && position < self.start + self.frames() as i64
    }
}

/// Every separated region the audio thread may play from, newest first.
#[derive(Debug, Clone, Default)]
pub struct StemCache {
    regions: Vec<Arc<SeparatedRegion>>,
}

impl StemCache {
    /// This cache with `region` added in front (it wins where regions overlap), keeping at most
    /// `max_frames` of audio in all: the oldest regions go first.
    pub fn with_region(&self, region: Arc<SeparatedRegion>, max_frames: usize) -> Self {
        let mut regions = vec![region];
        let mut total = regions[0].frames();
        for old in &self.regions {
            total += old.frames();
            if total > max_frames {
                break;
            }
            regions.push(Arc::clone(old));
        }
        Self { regions }
    }

    /// The regions, newest first.
    pub fn regions(&self) -> &[Arc<SeparatedRegion>] {
        &self.regions
    }

    /// The newest region holding `position`.
    pub fn region_at(&self, position: i64) -> Option<&SeparatedRegion> {
        self.regions
            .iter()
            .map(Arc::as_ref)
            .find(|region| region.covers(position))
    }

    /// Whether every whole cell of `input` played from timeline `start` is cached with the same
    /// audio or is digital silence (then separating it again would give nothing new).
    pub fn holds(&self, start: i64, input: &[Vec<f32>]) -> bool {
        let (first_cell, hashes) = cell_hashes(start, input);
        let silence = silent_cell_hash(input.len());
        !hashes.is_empty()
            && (first_cell..)
                .zip(hashes)
                .all(|(cell, hash)| hash == silence || self.cell_hash(cell) == Some(hash))
    }

    /// The hash of cell `cell` in the newest region holding all of it.
    pub fn cell_hash(&self, cell: i64) -> Option<u64> {
        self.regions
            .iter()
            .find_map(|region| region.cell_hash(cell))
    }
}

/// The audio thread's side: hashes the input as it arrives and remembers the hashes of the last
/// whole cells heard, to compare with whatever cache is current when their stems are due.
/// Allocation-free.
#[derive(Debug, Clone)]
pub struct CellValidator {
    /// The hash of the cell being filled.
    hasher: CellHasher,
    /// The timeline position the next input frame should have; another one starts over.
    expected: Option<i64>,
    /// Whether the cell being filled was heard from its first frame.
    whole: bool,
    /// `(cell, hash)` of recent whole cells, at `cell % VERDICTS`.
    heard: [(i64, u64); VERDICTS],
}

impl Default for CellValidator {
    fn default() -> Self {
        Self {
            hasher: CellHasher::default(),
            expected: None,
            whole: false,
            heard: [(i64::MIN, 0); VERDICTS],
        }
    }
}

impl CellValidator {
    /// Forgets the cell being filled (a transport jump or stop).
    pub fn interrupt(&mut self) {
        self.expected = None;
    }

    /// Hashes a block of input (planar) that the host plays at timeline `position`.
    pub fn feed(&mut self, position: i64, input: &[&[f32]]) {
        let frames = input.first().map_or(0, |c| c.len());
        if self.expected != Some(position) {
            // A jump: the cell being filled was not heard whole.
            self.whole = false;
        }
        for frame in 0..frames {
            let at = position + frame as i64;
            if at.rem_euclid(CELL_FRAMES as i64) == 0 {
                self.hasher = CellHasher::default();
                self.whole = true;
            }
            for channel in input {
                self.hasher.add(channel[frame]);
            }
            if (at + 1).rem_euclid(CELL_FRAMES as i64) == 0 {
                let cell = cell_of(at);
                let slot = &mut self.heard[cell.rem_euclid(VERDICTS as i64) as usize];
                *slot = if self.whole {
                    (cell, self.hasher.finish())
                } else {
                    (i64::MIN, 0)
                };
                self.whole = false;
            }
        }
        self.expected = Some(position + frames as i64);
    }

    /// Whether cell `cell` was heard whole, recently, and equal to `cache`'s.
    pub fn matches(&self, cell: i64, cache: &StemCache) -> bool {
        let (heard, hash) = self.heard[cell.rem_euclid(VERDICTS as i64) as usize];
        heard == cell && cache.cell_hash(cell) == Some(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_where_they_occur_bit_for_bit_and_silence_nowhere() {
        let audio = signal(50_000, 7);
        let probe: Vec<Vec<f32>> = audio.iter().map(|c| c[31_234..35_330].to_vec()).collect();
        assert_eq!(find_frames(&audio, &probe), Some(31_234));
        let start: Vec<Vec<f32>> = audio.iter().map(|c| c[..10].to_vec()).collect();
        assert_eq!(find_frames(&audio, &start), Some(0));
        let end: Vec<Vec<f32>> = audio.iter().map(|c| c[49_000..].to_vec()).collect();
        assert_eq!(find_frames(&audio, &end), Some(49_000));
        // One sample off by one bit, another signal, the wrong channel count, silence.
        let mut off = probe.clone();
        off[1][100] = f32::from_bits(off[1][100].to_bits() ^ 1);
        assert_eq!(find_frames(&audio, &off), None);
        assert_eq!(find_frames(&audio, &signal(4096, 8)), None);
        assert_eq!(find_frames(&audio, &probe[..1]), None);
        assert_eq!(find_frames(&audio, &vec![vec![0.0; 4096]; 2]), None);
        assert_eq!(find_frames(&probe, &audio), None, "longer than the audio");
    }

    fn signal(frames: usize, seed: u32) -> Vec<Vec<f32>> {
        (0..2)
            .map(|c| {
                (0..frames)
                    .map(|t| ((t as u32).wrapping_mul(2_654_435_761) ^ seed ^ c) % 1000)
                    .map(|v| v as f32 * 1e-3)
                    .collect()
            })
            .collect()
    }

    fn region(start: i64, input: &[Vec<f32>]) -> Arc<SeparatedRegion> {
        let stems = std::array::from_fn(|s| {
            input
                .iter()
                .map(|c| c.iter().map(|x| x * s as f32).collect())
                .collect()
        });
        Arc::new(SeparatedRegion::new(start, input, stems))
    }

    /// Feeds `input` from `start` in blocks of `block` and returns the validator.
    fn hear(input: &[Vec<f32>], start: i64, block: usize) -> CellValidator {
        let mut validator = CellValidator::default();
        let frames = input[0].len();
        let mut pos = 0;
        while pos < frames {
            let n = block.min(frames - pos);
            let planes: Vec<&[f32]> = input.iter().map(|c| &c[pos..pos + n]).collect();
            validator.feed(start + pos as i64, &planes);
            pos += n;
        }
        validator
    }

    #[test]
    fn cells_heard_as_they_were_separated_match_and_edited_ones_do_not() {
        let start = 3 * CELL_FRAMES as i64 + 100;
        let input = signal(10 * CELL_FRAMES, 1);
        let cache = StemCache::default().with_region(region(start, &input), usize::MAX);
        let first = cell_of(start) + 1;
        for block in [1, 333, 4096, 5000] {
            let heard = hear(&input, start, block);
            assert!(
                !heard.matches(first - 1, &cache),
                "a partial cell never matches"
            );
            for cell in first..first + 9 {
                assert!(
                    heard.matches(cell, &cache),
                    "cell {cell}, blocks of {block}"
                );
                assert!(!heard.matches(cell, &StemCache::default()));
            }
            let mut edited = input.clone();
            edited[1][5 * CELL_FRAMES] += 0.5;
            let heard = hear(&edited, start, block);
            let changed = cell_of(start + 5 * CELL_FRAMES as i64);
            assert!(!heard.matches(changed, &cache));
            assert!(heard.matches(changed - 1, &cache) && heard.matches(changed + 1, &cache));
        }
    }

    #[test]
    fn a_jump_inside_a_cell_leaves_it_unjudged() {
        let input = signal(4 * CELL_FRAMES, 2);
        let cache = StemCache::default().with_region(region(0, &input), usize::MAX);
        let mut validator = CellValidator::default();
        let planes: Vec<&[f32]> = input.iter().map(|c| &c[..1000]).collect();
        validator.feed(0, &planes);
        let rest: Vec<&[f32]> = input.iter().map(|c| &c[1500..CELL_FRAMES * 2]).collect();
        validator.feed(1500, &rest);
        assert!(!validator.matches(0, &cache), "cell 0 was not heard whole");
        assert!(validator.matches(1, &cache));
    }

    #[test]
    fn the_newest_region_wins_and_the_oldest_go_when_full() {
        let a = region(0, &signal(8 * CELL_FRAMES, 3));
        let b = region(4 * CELL_FRAMES as i64, &signal(8 * CELL_FRAMES, 4));
        let cache = StemCache::default()
            .with_region(Arc::clone(&a), usize::MAX)
            .with_region(Arc::clone(&b), usize::MAX);
        assert_eq!(cache.region_at(100).map(SeparatedRegion::start), Some(0));
        assert_eq!(
            cache
                .region_at(5 * CELL_FRAMES as i64)
                .map(SeparatedRegion::start),
            Some(4 * CELL_FRAMES as i64)
        );
        assert_eq!(cache.cell_hash(5), b.cell_hash(5));
        assert!(cache.holds(4 * CELL_FRAMES as i64, &signal(8 * CELL_FRAMES, 4)));
        assert!(
            !cache.holds(0, &signal(8 * CELL_FRAMES, 4)),
            "other audio there"
        );
        // Digital silence around cached audio needs no separating either.
        let mut padded = vec![vec![0.0; 3 * CELL_FRAMES + 100]; 2];
        for (p, s) in padded.iter_mut().zip(signal(8 * CELL_FRAMES, 4)) {
            p.extend(s);
            p.extend(std::iter::repeat_n(0.0, 2 * CELL_FRAMES));
        }
        let from = CELL_FRAMES as i64 - 100;
        assert!(cache.holds(from, &padded));
        assert!(!StemCache::default().holds(from, &padded));
        let small = cache.with_region(region(0, &signal(CELL_FRAMES, 5)), 10 * CELL_FRAMES);
        assert_eq!(small.regions().len(), 2, "{:?}", small.regions().len());
    }
}
