//! Global tempo and beat times from an onset-strength envelope.
//!
//! Tempo: the envelope's local mean is removed and negative values dropped, so only onsets that
//! stand out remain; its autocorrelation is taken over 12-s windows (each normalised by its
//! energy, so quiet passages count as much as loud ones) and averaged. A tempo's salience is
//! the autocorrelation at its beat period plus a quarter of the autocorrelation at twice the
//! period (a beat that repeats over two beats is more likely the beat than its subdivision),
//! minus half the autocorrelation at a half or a third of the period (a pulse that is as strong
//! two or three times as fast is more likely the beat itself), weighted by a broad log-normal
//! preference around 120 BPM. The winning period is refined on the peaks at one to four beat
//! periods; its metrical level is then chosen (below), and the tempo refined by a straight-line
//! fit through the tracked beats.
//!
//! Metrical level: the autocorrelation cannot tell a beat from its half or its double (a rock
//! groove at 180 BPM repeats at 90 just as well; a half-time groove's felt beat and its written
//! beat both pulse). So the onsets are folded over the period of each of the levels half as
//! fast, as found and twice as fast, and each level's accent contrast is measured: how much
//! stronger the onsets on its beats are than those halfway between them. The slowest level
//! inside 60–200 BPM whose beats stand out clearly over its off-beats is the beat: a level that
//! is too slow has as strong onsets between its beats (the snare between two kicks), a level
//! that is as fast as the beat has weak off-beats (the hi-hat between kick and snare). (A
//! period of three subdivisions of the beat, x4/3, is not corrected: a half-time groove's kick
//! on 1 and the "a" of 1 can still be read so.)
//!
//! Beats: Ellis's dynamic programme (2007) picks the onset peaks that best fit a steady beat of
//! that tempo.

/// Slowest tempo reported, in BPM.
pub const MIN_BPM: f64 = 60.0;
/// Fastest tempo reported, in BPM.
pub const MAX_BPM: f64 = 200.0;
/// Centre of the tempo preference, in BPM.
const PREFERRED_BPM: f64 = 120.0;
/// Width of the tempo preference, in octaves (one standard deviation).
const PREFERENCE_OCTAVES: f64 = 1.0;
/// How much a pulse at half or a third of the period speaks against a tempo (the beat is then
/// probably faster: a click track at 196 BPM repeats at 98 and 65.3 BPM just as well).
const FASTER_PULSE_PENALTY: f64 = 0.5;
/// How much a repetition at twice the period speaks for a tempo (a beat repeats over two beats;
/// a subdivision repeats over two subdivisions, which is weaker).
const BAR_WEIGHT: f64 = 0.25;
/// Autocorrelation window in seconds.
const WINDOW_S: f64 = 12.0;
/// Span of the local mean removed from the envelope, in seconds.
const LOCAL_MEAN_S: f64 = 0.5;
/// Below this periodicity (normalised autocorrelation at the beat period) there is no tempo.
const MIN_CONFIDENCE: f64 = 0.2;
/// A metrical level is the beat when its beats are, on average, this much stronger than its
/// off-beats (in units of the mean onset strength; see [`accent_contrast`]).
const MIN_ACCENT_CONTRAST: f64 = 1.75;
/// Phase bins per period when the onsets are folded.
const PHASE_BINS: usize = 24;
/// How strongly the beat tracker keeps beats one period apart (librosa's default).
const TIGHTNESS: f64 = 100.0;

/// A tempo estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tempo {
    /// Beats per minute.
    pub bpm: f64,
    /// The periodicity of the onsets at the beat period, 0 (none) to 1 (a perfect pulse).
    pub confidence: f64,
}

/// The onsets that stand out: the envelope minus its local mean, negative values dropped.
fn salient_onsets(envelope: &[f32], frame_rate: f64) -> Vec<f32> {
    let half = ((LOCAL_MEAN_S * frame_rate / 2.0) as usize).max(1);
    envelope
        .iter()
        .zip(moving_average(envelope, half))
        .map(|(&x, mean)| (f64::from(x) - mean).max(0.0) as f32)
        .collect()
}

/// The autocorrelation of `onsets` for lags `0..max_lag`, averaged over windows and normalised
/// so that lag 0 is 1. `None` when no window holds any onset.
fn windowed_autocorrelation(onsets: &[f32], frame_rate: f64, max_lag: usize) -> Option<Vec<f64>> {
    let window = ((WINDOW_S * frame_rate) as usize).max(max_lag + 1);
    let window = window.min(onsets.len());
    if window <= max_lag {
        return None;
    }
    let fft_len = (2 * window).next_power_of_two();
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(fft_len);
    let inverse = planner.plan_fft_inverse(fft_len);
    let mut time = forward.make_input_vec();
    let mut spectrum = forward.make_output_vec();
    let mut sum = vec![0.0f64; max_lag];
    let mut windows = 0usize;
    let hop = (window / 4).max(1);
    let mut start = 0;
    loop {
        let end = (start + window).min(onsets.len());
        // Zero mean within the window, or every lag would correlate through the mean alone.
        let part = &onsets[start..end];
        let mean = part.iter().map(|&x| f64::from(x)).sum::<f64>() / part.len() as f64;
        time.fill(0.0);
        for (t, &x) in time.iter_mut().zip(part) {
            *t = f64::from(x) - mean;
        }
        forward
            .process(&mut time, &mut spectrum)
            .expect("buffer sizes come from the plan");
        for c in &mut spectrum {
            *c = realfft::num_complex::Complex64::new(c.norm_sqr(), 0.0);
        }
        inverse
            .process(&mut spectrum, &mut time)
            .expect("buffer sizes come from the plan");
        let energy = time[0];
        if energy > 1e-9 * fft_len as f64 {
            let len = (end - start) as f64;
            for (lag, s) in sum.iter_mut().enumerate() {
                // Unbiased: each lag is averaged over the pairs it actually has.
                *s += time[lag] / energy * len / (len - lag as f64).max(1.0);
            }
            windows += 1;
        }
        if end == onsets.len() {
            break;
        }
        start += hop;
    }
    (windows > 0).then(|| sum.into_iter().map(|s| s / windows as f64).collect())
}

/// Linear interpolation of `acf` at a fractional lag (0 past its end).
fn at_lag(acf: &[f64], lag: f64) -> f64 {
    let i = lag.floor() as usize;
    if i + 1 >= acf.len() {
        return 0.0;
    }
    let frac = lag - i as f64;
    acf[i] * (1.0 - frac) + acf[i + 1] * frac
}

/// The lag of the highest autocorrelation within ±4 % of `lag`, refined by a parabola.
fn peak_near(acf: &[f64], lag: f64) -> f64 {
    let lo = (lag * 0.96).floor().max(1.0) as usize;
    let hi = ((lag * 1.04).ceil() as usize).min(acf.len().saturating_sub(2));
    if lo >= hi {
        return lag;
    }
    let best = (lo..=hi)
        .max_by(|&a, &b| acf[a].total_cmp(&acf[b]))
        .expect("non-empty range");
    let (l, c, r) = (acf[best - 1], acf[best], acf[best + 1]);
    let denom = l - 2.0 * c + r;
    let shift = if denom < 0.0 {
        (0.5 * (l - r) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    best as f64 + shift
}

/// Estimates the global tempo of an onset envelope sampled at `frame_rate` frames per second.
/// `None` when there is no steady pulse (silence, noise, speech, sustained tones).
pub fn estimate_tempo(envelope: &[f32], frame_rate: f64) -> Option<Tempo> {
    let onsets = salient_onsets(envelope, frame_rate);
    let longest_period = 60.0 * frame_rate / MIN_BPM;
    let max_lag = (2.0 * longest_period).ceil() as usize + 2;
    let acf = windowed_autocorrelation(&onsets, frame_rate, max_lag)?;
    let salience = |bpm: f64| {
        let lag = 60.0 * frame_rate / bpm;
        let preference = (bpm / PREFERRED_BPM).log2() / PREFERENCE_OCTAVES;
        let faster = at_lag(&acf, lag / 2.0).max(at_lag(&acf, lag / 3.0));
        let pulse = at_lag(&acf, lag) + BAR_WEIGHT * at_lag(&acf, 2.0 * lag)
            - FASTER_PULSE_PENALTY * faster.max(0.0);
        pulse * (-0.5 * preference * preference).exp()
    };
    let steps = ((MAX_BPM / MIN_BPM).ln() / 0.001) as usize;
    let coarse = (0..=steps)
        .map(|i| MIN_BPM * (0.001 * i as f64).exp())
        .max_by(|&a, &b| salience(a).total_cmp(&salience(b)))?;
    let lag = 60.0 * frame_rate / coarse;
    // Refine on the peaks at one to four periods: the longer lags pin the period down finer.
    let mut weighted = 0.0;
    let mut weights = 0.0;
    for k in 1..=4 {
        let target = k as f64 * lag;
        if target + 2.0 >= acf.len() as f64 {
            break;
        }
        let w = at_lag(&acf, target).max(0.0) * k as f64;
        weighted += w * peak_near(&acf, target) / k as f64;
        weights += w;
    }
    let period = if weights > 0.0 {
        weighted / weights
    } else {
        lag
    };
    if at_lag(&acf, period) < MIN_CONFIDENCE {
        return None;
    }
    let bpm = metrical_level(&onsets, frame_rate, 60.0 * frame_rate / period);
    Some(Tempo {
        bpm,
        confidence: at_lag(&acf, 60.0 * frame_rate / bpm).clamp(0.0, 1.0),
    })
}

/// The beat among the metrical levels half as fast as, as fast as and twice as fast as `bpm`:
/// the slowest inside 60–200 BPM whose accent contrast is clear; `bpm` (brought into the range)
/// when none is.
fn metrical_level(onsets: &[f32], frame_rate: f64, bpm: f64) -> f64 {
    [0.5, 1.0, 2.0]
        .into_iter()
        .map(|factor| factor * bpm)
        .filter(|level| (MIN_BPM..=MAX_BPM).contains(level))
        .find(|&level| {
            accent_contrast(onsets, 60.0 * frame_rate / level, frame_rate) >= MIN_ACCENT_CONTRAST
        })
        .unwrap_or_else(|| bpm.clamp(MIN_BPM, MAX_BPM))
}

/// How much stronger the onsets on a beat of `period` frames are than those halfway between
/// two beats, in units of the mean onset strength. The onsets, averaged over a sixteenth of
/// the period either side, are read at each of 24 phases of every period of a 12-s window
/// (half overlapping windows, so a slow drift does not smear them); the strongest phase is the
/// beat, and the contrasts are averaged over the windows.
fn accent_contrast(onsets: &[f32], period: f64, frame_rate: f64) -> f64 {
    let reach = ((period / 16.0).round() as usize).max(1);
    let smoothed = moving_average(onsets, reach);
    let window = ((WINDOW_S * frame_rate) as usize).max(1);
    let last_start = smoothed.len().saturating_sub(window);
    let (mut sum, mut windows) = (0.0, 0usize);
    for start in (0..=last_start).step_by((window / 2).max(1)) {
        let end = (start + window).min(smoothed.len());
        if let Some(contrast) = phase_contrast(&smoothed[start..end], period) {
            sum += contrast;
            windows += 1;
        }
    }
    if windows == 0 {
        0.0
    } else {
        sum / windows as f64
    }
}

/// The mean of `values` over `reach` frames either side of each frame.
fn moving_average(values: &[f32], reach: usize) -> Vec<f64> {
    let mut prefix = Vec::with_capacity(values.len() + 1);
    prefix.push(0.0f64);
    for &x in values {
        prefix.push(prefix.last().expect("not empty") + f64::from(x));
    }
    (0..values.len())
        .map(|i| {
            let lo = i.saturating_sub(reach);
            let hi = (i + reach + 1).min(values.len());
            (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        })
        .collect()
}

/// The accent contrast of one window of smoothed onsets: the mean value at each of
/// [`PHASE_BINS`] phases of `period` (linearly interpolated), at the strongest phase minus
/// half a period later, over the mean. `None` for a window without onsets.
fn phase_contrast(smoothed: &[f64], period: f64) -> Option<f64> {
    let strength: Vec<f64> = (0..PHASE_BINS)
        .map(|bin| {
            let (mut sum, mut count) = (0.0, 0usize);
            let mut t = bin as f64 * period / PHASE_BINS as f64;
            while t + 1.0 < smoothed.len() as f64 {
                let i = t as usize;
                let frac = t - i as f64;
                sum += smoothed[i] * (1.0 - frac) + smoothed[i + 1] * frac;
                count += 1;
                t += period;
            }
            sum / count.max(1) as f64
        })
        .collect();
    let mean = strength.iter().sum::<f64>() / PHASE_BINS as f64;
    if mean <= 0.0 {
        return None;
    }
    let beat = (0..PHASE_BINS).max_by(|&a, &b| strength[a].total_cmp(&strength[b]))?;
    let off_beat = (beat + PHASE_BINS / 2) % PHASE_BINS;
    Some((strength[beat] - strength[off_beat]) / mean)
}

/// Beat positions, in frames of the envelope, for a steady beat at `bpm`.
pub fn track_beats(envelope: &[f32], frame_rate: f64, bpm: f64) -> Vec<usize> {
    let n = envelope.len();
    let period = 60.0 * frame_rate / bpm;
    if n < 2 || period < 1.0 {
        return Vec::new();
    }
    let onsets = salient_onsets(envelope, frame_rate);
    let std = (onsets.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / n as f64).sqrt();
    if std <= 0.0 {
        return Vec::new();
    }
    // The local score: onsets smoothed over a 1/32 of a beat (Gaussian).
    let sigma = (period / 32.0).max(0.5);
    let reach = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f64> = (-reach..=reach)
        .map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp())
        .collect();
    let local: Vec<f64> = (0..n as isize)
        .map(|t| {
            kernel
                .iter()
                .enumerate()
                .filter_map(|(j, k)| {
                    let i = t + j as isize - reach;
                    (0..n as isize)
                        .contains(&i)
                        .then(|| k * f64::from(onsets[i as usize]) / std)
                })
                .sum()
        })
        .collect();
    let earliest = (2.0 * period).round() as usize;
    let latest = (period / 2.0).round().max(1.0) as usize;
    // The penalty for a gap of `earliest - j` frames between two beats, at `j`: in the order of
    // the previous beats a window of `score` lists.
    let reversed_penalty: Vec<f64> = (0..=earliest)
        .map(|j| TIGHTNESS * ((earliest - j).max(1) as f64 / period).ln().powi(2))
        .collect();
    let mut score = vec![0.0f64; n];
    let mut from = vec![usize::MAX; n];
    for t in 0..n {
        score[t] = local[t];
        if t < latest {
            continue;
        }
        // The best previous beat (the latest of equals); only a positive score is worth it.
        // Its score first (a maximum, four at a time), then where it is.
        let (start, end) = (t.saturating_sub(earliest), t - latest);
        let window = &score[start..=end];
        let penalties = &reversed_penalty[earliest + start - t..=earliest + end - t];
        let gains = || window.iter().zip(penalties).map(|(s, p)| s - p);
        let mut lanes = [0.0f64; 4];
        for (i, gain) in gains().enumerate() {
            let lane = &mut lanes[i % 4];
            *lane = if gain > *lane { gain } else { *lane };
        }
        let best_score = lanes.into_iter().fold(0.0, f64::max);
        if best_score > 0.0 {
            let best = gains()
                .rposition(|gain| gain == best_score)
                .expect("the maximum is one of them");
            score[t] += best_score;
            from[t] = start + best;
        }
    }
    // End on the best-scoring beat within the last period, then walk back.
    let tail = n.saturating_sub(period.ceil() as usize);
    let mut t = (tail..n)
        .max_by(|&a, &b| score[a].total_cmp(&score[b]))
        .expect("n >= 2");
    let mut beats = vec![t];
    while from[t] != usize::MAX {
        t = from[t];
        beats.push(t);
    }
    beats.reverse();
    // Drop leading and trailing beats that land on no onset (an intro or a fade-out).
    let strength: Vec<f64> = beats.iter().map(|&b| local[b]).collect();
    let rms = (strength.iter().map(|s| s * s).sum::<f64>() / strength.len() as f64).sqrt();
    let first = strength.iter().position(|&s| s > 0.5 * rms).unwrap_or(0);
    let last = strength.iter().rposition(|&s| s > 0.5 * rms).unwrap_or(0);
    beats[first..=last.max(first)].to_vec()
}

/// The tempo of a straight line through beat positions (in frames), in BPM, or `None` for fewer
/// than eight beats.
pub fn fitted_bpm(beats: &[usize], frame_rate: f64) -> Option<f64> {
    if beats.len() < 8 {
        return None;
    }
    let n = beats.len() as f64;
    let mean_i = (n - 1.0) / 2.0;
    let mean_t = beats.iter().map(|&b| b as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, &b) in beats.iter().enumerate() {
        num += (i as f64 - mean_i) * (b as f64 - mean_t);
        den += (i as f64 - mean_i).powi(2);
    }
    let period = num / den;
    (period > 0.0).then(|| 60.0 * frame_rate / period)
}
