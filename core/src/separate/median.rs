//! Running medians for the harmonic/percussive split: a small window kept sorted, so a step
//! that drops one value and adds another costs two binary searches and two short moves
//! instead of a selection over the whole window.

/// The most values a [`SortedWindow`] holds.
pub(super) const CAPACITY: usize = 17;

/// Up to [`CAPACITY`] values in ascending order (by `f32::total_cmp`).
#[derive(Debug, Clone, Copy)]
pub(super) struct SortedWindow {
    values: [f32; CAPACITY],
    len: usize,
}

impl SortedWindow {
    /// An empty window.
    pub(super) const EMPTY: Self = Self {
        values: [0.0; CAPACITY],
        len: 0,
    };

    /// A window of `len` zeros.
    pub(super) fn zeros(len: usize) -> Self {
        assert!(len <= CAPACITY, "at most {CAPACITY} values");
        Self {
            values: [0.0; CAPACITY],
            len,
        }
    }

    /// Adds `x` (the window must not be full).
    #[inline]
    pub(super) fn insert(&mut self, x: f32) {
        debug_assert!(self.len < CAPACITY);
        let at = self.values[..self.len].partition_point(|v| v.total_cmp(&x).is_lt());
        self.values.copy_within(at..self.len, at + 1);
        self.values[at] = x;
        self.len += 1;
    }

    /// Removes one value equal to `x` (bit for bit), which the window must hold.
    #[inline]
    pub(super) fn remove(&mut self, x: f32) {
        let at = self.values[..self.len].partition_point(|v| v.total_cmp(&x).is_lt());
        debug_assert!(at < self.len && self.values[at].to_bits() == x.to_bits());
        self.values.copy_within(at + 1..self.len, at);
        self.len -= 1;
    }

    /// Replaces one value equal to `old` (bit for bit, which the window must hold) by `new`:
    /// the values between the two places shift over by one, in a plain loop (the step is
    /// usually short, and a `memmove` call costs more than it).
    #[inline]
    pub(super) fn replace(&mut self, old: f32, new: f32) {
        let values = &mut self.values[..self.len];
        let mut at = values.partition_point(|v| v.total_cmp(&old).is_lt());
        debug_assert!(at < values.len() && values[at].to_bits() == old.to_bits());
        while at + 1 < values.len() && values[at + 1].total_cmp(&new).is_lt() {
            values[at] = values[at + 1];
            at += 1;
        }
        while at > 0 && new.total_cmp(&values[at - 1]).is_lt() {
            values[at] = values[at - 1];
            at -= 1;
        }
        values[at] = new;
    }

    /// The median: the middle value, the upper of the middle two for an even count (0 when
    /// empty).
    #[inline]
    pub(super) fn median(&self) -> f32 {
        if self.len == 0 {
            0.0
        } else {
            self.values[self.len / 2]
        }
    }
}

/// Writes into `out[k]` the median of `values[k - half ..= k + half]` (clipped at the ends).
pub(super) fn sliding_median(values: &[f32], half: usize, out: &mut [f32]) {
    assert!(2 * half < CAPACITY, "window of {} values", 2 * half + 1);
    let n = values.len();
    let mut window = SortedWindow::EMPTY;
    for &x in &values[..half.min(n)] {
        window.insert(x);
    }
    for (k, o) in out.iter_mut().enumerate().take(n) {
        match (k > half, k + half < n) {
            (true, true) => window.replace(values[k - half - 1], values[k + half]),
            (true, false) => window.remove(values[k - half - 1]),
            (false, true) => window.insert(values[k + half]),
            (false, false) => {}
        }
        *o = window.median();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn slow_median(values: &[f32]) -> f32 {
        let mut v = values.to_vec();
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    }

    proptest! {
        #[test]
        fn sliding_median_equals_sorting_each_window(
            values in prop::collection::vec(-4.0f32..4.0, 1..80),
            half in 0usize..=8,
        ) {
            let mut out = vec![0.0; values.len()];
            sliding_median(&values, half, &mut out);
            for (k, o) in out.iter().enumerate() {
                let lo = k.saturating_sub(half);
                let hi = (k + half + 1).min(values.len());
                prop_assert_eq!(*o, slow_median(&values[lo..hi]));
            }
        }

        #[test]
        fn replacing_keeps_the_window_sorted(
            start in prop::collection::vec(0.0f32..1.0, CAPACITY),
            steps in prop::collection::vec((0usize..CAPACITY, 0.0f32..1.0), 1..50),
        ) {
            let mut window = SortedWindow::EMPTY;
            for &x in &start {
                window.insert(x);
            }
            let mut plain = start.clone();
            for (slot, new) in steps {
                window.replace(plain[slot], new);
                plain[slot] = new;
                prop_assert_eq!(window.median(), slow_median(&plain));
            }
        }
    }
}
