//! Global tempo and beat times from an onset-strength envelope.
//!
//! Tempo: the envelope's local mean is removed and negative values dropped, so only onsets that
//! stand out remain; its autocorrelation is taken over 12-s windows (each normalised by its
//! energy, so quiet passages count as much as loud ones) and averaged. A tempo's salience is
//! the autocorrelation at its beat period plus a quarter of the autocorrelation at twice the
//! period (a beat that repeats over two beats is more likely the beat than its subdivision),
//! minus half the autocorrelation at a half or a third of the period (a pulse that is as strong
//! two or three times as fast is more likely the beat itself), weighted by a broad log-normal preference around 120 BPM that
//! settles the factor-of-two choices the autocorrelation alone cannot. The winning period is refined on the peaks at one to four beat
//! periods, and then by a straight-line fit through the tracked beats.
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
    let mut prefix = Vec::with_capacity(envelope.len() + 1);
    prefix.push(0.0f64);
    for &x in envelope {
        prefix.push(prefix.last().expect("not empty") + f64::from(x));
    }
    (0..envelope.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(envelope.len());
            let mean = (prefix[hi] - prefix[lo]) / (hi - lo) as f64;
            (f64::from(envelope[i]) - mean).max(0.0) as f32
        })
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
    let confidence = at_lag(&acf, period).clamp(0.0, 1.0);
    (confidence >= MIN_CONFIDENCE).then(|| Tempo {
        bpm: (60.0 * frame_rate / period).clamp(MIN_BPM, MAX_BPM),
        confidence,
    })
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
    // The penalty for a gap of `d` frames between two beats, for `d` in `latest..=earliest`.
    let penalty: Vec<f64> = (0..=earliest)
        .map(|d| TIGHTNESS * (d.max(1) as f64 / period).ln().powi(2))
        .collect();
    let mut score = vec![0.0f64; n];
    let mut from = vec![usize::MAX; n];
    for t in 0..n {
        score[t] = local[t];
        if t < latest {
            continue;
        }
        let best = (t.saturating_sub(earliest)..=t - latest)
            .map(|prev| (prev, score[prev] - penalty[t - prev]))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((prev, s)) = best.filter(|&(_, s)| s > 0.0) {
            score[t] += s;
            from[t] = prev;
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
