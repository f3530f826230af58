//! Per-step timing of generated `forward`s (feature `profile`).
//!
//! With the feature on, `network!` wraps every step (layer) of `forward` in an
//! [`Instant`] pair and adds the elapsed nanoseconds to a per-network `static`
//! [`Timings`]: fixed-size arrays of atomics, so timing allocates nothing and
//! `forward` stays `&self`. `Name::profile()` reads them back as [`StepTime`]s,
//! `Name::profile_forward()` the whole `forward`, `Name::profile_reset()` zeroes
//! them. With the feature off the generated code is unchanged.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
pub use std::time::Instant;

/// What the macro knows about one step: the Keras layer that runs, its op and
/// its multiply-accumulates per call (0 for ops without a kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Binding path of the layer that runs.
    pub name: &'static str,
    /// Its op (see [`StepTime::op`]).
    pub op: &'static str,
    /// Multiply-accumulates per call.
    pub macs: u64,
}

/// Accumulated time and call count of one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepTime {
    /// Binding path of the layer that runs (its Keras layer name).
    pub name: &'static str,
    /// Its op, e.g. `conv2d`, with `+add` when a residual add is fused into it.
    pub op: &'static str,
    /// Multiply-accumulates per call.
    pub macs: u64,
    /// Nanoseconds over all calls since the last reset.
    pub total_ns: u64,
    /// Calls since the last reset.
    pub calls: u64,
    /// The fastest call's nanoseconds (`u64::MAX` without calls): on a
    /// machine whose speed drifts, or that other processes share, the
    /// per-layer figure that least depends on them.
    pub min_ns: u64,
}

impl StepTime {
    /// Mean nanoseconds per call (0 without calls).
    pub fn mean_ns(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.total_ns as f64 / self.calls as f64
        }
    }
}

/// Nanoseconds, calls and fastest call of `N` steps, in a `static` (no
/// allocation).
pub struct Timings<const N: usize> {
    ns: [AtomicU64; N],
    calls: [AtomicU64; N],
    min: [AtomicU64; N],
}

impl<const N: usize> Default for Timings<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Timings<N> {
    /// All zero.
    pub const fn new() -> Self {
        Timings {
            ns: [const { AtomicU64::new(0) }; N],
            calls: [const { AtomicU64::new(0) }; N],
            min: [const { AtomicU64::new(u64::MAX) }; N],
        }
    }

    /// Adds the time since `start` to step `i`.
    #[inline]
    pub fn record(&self, i: usize, start: Instant) {
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.ns[i].fetch_add(ns, Relaxed);
        self.calls[i].fetch_add(1, Relaxed);
        self.min[i].fetch_min(ns, Relaxed);
    }

    /// Zeroes every step.
    pub fn reset(&self) {
        for ((n, c), m) in self.ns.iter().zip(&self.calls).zip(&self.min) {
            n.store(0, Relaxed);
            c.store(0, Relaxed);
            m.store(u64::MAX, Relaxed);
        }
    }

    /// Step `i`'s `(total ns, calls)`.
    pub fn get(&self, i: usize) -> (u64, u64) {
        (self.ns[i].load(Relaxed), self.calls[i].load(Relaxed))
    }

    /// Step `i`'s fastest call in nanoseconds (`u64::MAX` without calls).
    pub fn min(&self, i: usize) -> u64 {
        self.min[i].load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_resets() {
        static T: Timings<2> = Timings::new();
        let t0 = Instant::now();
        T.record(0, t0);
        T.record(0, t0);
        assert_eq!(T.get(0).1, 2);
        assert!(
            T.min(0) <= T.get(0).0 / 2,
            "the fastest call is at most the mean"
        );
        assert_eq!(T.get(1), (0, 0));
        assert_eq!(T.min(1), u64::MAX);
        let s = StepTime {
            name: "b",
            op: "add",
            macs: 0,
            total_ns: 0,
            calls: 0,
            min_ns: u64::MAX,
        };
        assert_eq!(s.mean_ns(), 0.0);
        T.reset();
        assert_eq!(T.get(0), (0, 0));
        assert_eq!(T.min(0), u64::MAX);
    }
}
