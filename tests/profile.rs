//! Feature `profile`: every step of `forward` is timed into the network's
//! `static` timings, and `forward` still allocates nothing.
#![cfg(feature = "profile")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

/// Allocations made on a thread that counts ([`COUNTING`]): the test's own.
/// The harness's main thread allocates while the test runs (under load its
/// bookkeeping overlaps the timed calls: 4 allocations in 4 of 40 loaded
/// runs); this network's workspace has no worker threads, so the test
/// thread is the only one `forward` runs on.
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// Whether this thread's allocations are counted.
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    // `try_with`: a thread being torn down has no thread-locals left.
    if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[path = "common/anchors.rs"]
mod anchors;

anchors::apes_block_net! {
    /// The anchor `apes_block_net`, weights baked in.
    #[weights = "tests/fixtures/apes_block_net/weights.safetensors"]
    Apes
}

#[test]
fn every_step_is_timed_without_allocating() {
    const CALLS: u64 = 3;
    let net = Apes::BAKED;
    let mut ws = Apes::workspace();
    let x = [0.5f32; 64 * 64 * 16];
    Apes::profile_reset();
    assert_eq!(ws.threads(), 1, "forward must run on this thread only");
    COUNTING.with(|c| c.set(true));
    // The counter sees this thread's allocations: one, counted.
    drop(std::hint::black_box(Box::new(1u8)));
    assert_eq!(ALLOCS.load(Ordering::SeqCst), 1, "the counter counts");
    let before = ALLOCS.load(Ordering::SeqCst);
    let mut sum = 0.0;
    for _ in 0..CALLS {
        sum += net.forward(&mut ws, &x).iter().sum::<f32>();
    }
    let allocs = ALLOCS.load(Ordering::SeqCst) - before;
    COUNTING.with(|c| c.set(false));
    assert!(sum.is_finite());
    assert_eq!(allocs, 0, "forward allocated with `profile` on");

    let steps: Vec<_> = Apes::profile().collect();
    assert!(steps.len() >= 8, "{steps:?}");
    for s in &steps {
        assert_eq!(s.calls, CALLS, "{s:?}");
        assert!(s.total_ns > 0, "{s:?}");
        // The fastest call is at most the mean.
        assert!(s.min_ns.saturating_mul(CALLS) <= s.total_ns, "{s:?}");
    }
    // MACs of the stem: 64x64 positions x 3x3x16 taps x 32 filters.
    let stem = steps.iter().find(|s| s.name == "stem").expect("stem step");
    assert_eq!(stem.op, "conv2d");
    assert_eq!(stem.macs, 64 * 64 * 3 * 3 * 16 * 32);
    // The residual add of block 3 runs inside its conv.
    let b3 = steps
        .iter()
        .find(|s| s.name == "b3_conv3b")
        .expect("b3_conv3b");
    assert!(b3.op.starts_with("conv2d+"), "{b3:?}");

    let all = Apes::profile_forward();
    assert_eq!(all.calls, CALLS);
    let layers: u64 = steps.iter().map(|s| s.total_ns).sum();
    assert!(all.total_ns >= layers, "{all:?} vs {layers}");
    assert_eq!(all.macs, steps.iter().map(|s| s.macs).sum::<u64>());

    Apes::profile_reset();
    assert!(Apes::profile().all(|s| s.calls == 0 && s.total_ns == 0 && s.min_ns == u64::MAX));
    assert_eq!(Apes::profile_forward().calls, 0);
}
