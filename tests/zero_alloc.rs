//! `forward` never touches the heap: a counting global allocator around it,
//! first call included, for every fixture network, a network with baked
//! weights and `forward_array`, on one thread and (feature `parallel`) on two.
//! (One test in this binary, so no other test thread allocates while it
//! counts; the counter is global, so it sees the workers too.)

mod common;
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
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

fn allocations_during<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCS.load(Ordering::SeqCst);
    let r = f();
    (ALLOCS.load(Ordering::SeqCst) - before, r)
}

apes_block_net! {
    /// The anchor `apes_block_net` with its weights baked in (`const` data).
    #[weights = "tests/fixtures/apes_block_net/weights.safetensors"]
    BakedApes
}

/// Thread counts every network is checked on.
const THREADS: &[usize] = if cfg!(feature = "parallel") {
    &[1, 2]
} else {
    &[1]
};

/// A workspace of `$net` for `threads` threads (1: `$net::workspace()`).
macro_rules! workspace {
    ($net:ident, $threads:expr) => {{
        #[cfg(feature = "parallel")]
        let ws = if $threads > 1 {
            skipnet::Workspace::<{ $net::ARENA_LEN }, $net>::with_threads($threads)
        } else {
            $net::workspace()
        };
        #[cfg(not(feature = "parallel"))]
        let ws = $net::workspace();
        assert_eq!(ws.threads(), $threads);
        ws
    }};
}

/// Three `forward`s of `$net` (the first on a fresh workspace) on every
/// thread count, each allocating nothing. `$call` sees the network as `$n`
/// and the workspace as `$ws`, and returns a sum of the output. Evaluates to
/// the network's name.
macro_rules! assert_no_allocations {
    ($net:ident, $value:expr, |$n:ident, $ws:ident| $call:expr) => {{
        let $n = &$value;
        for &threads in THREADS {
            let mut workspace = workspace!($net, threads);
            for call in 0..3 {
                let $ws = &mut workspace;
                let (count, sum) = allocations_during(|| $call);
                assert_eq!(
                    count,
                    0,
                    "{}::forward on {threads} thread(s), call {call}: {count} allocations",
                    stringify!($net)
                );
                assert!(sum.is_finite(), "{}: output not finite", stringify!($net));
            }
        }
        stringify!($net)
    }};
}

fn load<T>(r: Result<T, skipnet::Error>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn forward_makes_zero_allocations() {
    // The counter itself must work, or a zero below would prove nothing.
    let (n, v) = allocations_during(|| vec![1.0f32; 16]);
    assert!(n >= 1 && v.len() == 16);
    let mut checked: Vec<&str> = Vec::new();

    let w = |name: &str| fixture(name, "weights.safetensors");
    let x64 = vec![0.5f32; 65536].into_boxed_slice();
    let x64: &[f32; 65536] = (&*x64).try_into().unwrap();

    checked.push(assert_no_allocations!(
        SkipUNet,
        load(SkipUNet::from_safetensors(&w("seed_unet"))),
        |n, ws| { sum(n.forward(ws, &[0.25; 3072])) }
    ));
    checked.push(assert_no_allocations!(
        ApesNet,
        load(ApesNet::from_safetensors(&w("apes_net"))),
        |n, ws| { sum(n.forward(ws, x64)) }
    ));
    checked.push(assert_no_allocations!(
        Corner,
        load(Corner::from_safetensors(&w("corner"))),
        |n, ws| { sum(n.forward(ws, &[-1.0; 780])) }
    ));
    checked.push(assert_no_allocations!(
        ApesBlockNet,
        load(ApesBlockNet::from_safetensors(&w("apes_block_net"))),
        |n, ws| sum(n.forward(ws, x64))
    ));
    checked.push(assert_no_allocations!(
        Heads,
        load(Heads::from_safetensors(&w("heads"))),
        |n, ws| {
            let (a, b) = n.forward(ws, &[0.5; 378]);
            sum(a) + sum(b)
        }
    ));
    checked.push(assert_no_allocations!(
        SqueezeExcite,
        load(SqueezeExcite::from_safetensors(&w("squeeze_excite"))),
        |n, ws| sum(n.forward(ws, &[0.5; 1920]))
    ));
    checked.push(assert_no_allocations!(
        Preprocess,
        load(Preprocess::from_safetensors(&w("preprocess"))),
        |n, ws| sum(n.forward(ws, &[0.5; 360]))
    ));
    checked.push(assert_no_allocations!(
        ConvNextBlock,
        load(ConvNextBlock::from_safetensors(&w("convnext_block"))),
        |n, ws| sum(n.forward(ws, &[0.5; 1024]))
    ));
    checked.push(assert_no_allocations!(
        GroupedDepthwise,
        load(GroupedDepthwise::from_safetensors(&w("grouped_depthwise"))),
        |n, ws| sum(n.forward(ws, &[0.5; 1080]))
    ));
    checked.push(assert_no_allocations!(
        SeProject,
        load(SeProject::from_safetensors(&w("se_project"))),
        |n, ws| sum(n.forward(ws, &[0.5; 1920]))
    ));
    checked.push(assert_no_allocations!(
        EfficientSe,
        load(EfficientSe::from_safetensors(&w("efficient_se"))),
        |n, ws| sum(n.forward(ws, &[0.5; 1024]))
    ));
    checked.push(assert_no_allocations!(
        Zoo,
        load(Zoo::from_safetensors(&w("zoo"))),
        |n, ws| {
            let (a, b) = n.forward(ws, &[0.5; 480]);
            sum(a) + sum(b)
        }
    ));
    checked.push(assert_no_allocations!(
        Decoder,
        load(Decoder::from_safetensors(&w("decoder"))),
        |n, ws| {
            let (a, b) = n.forward(ws, &[0.5; 384], &[-0.5; 1024]);
            sum(a) + sum(b)
        }
    ));
    checked.push(assert_no_allocations!(
        ResNetBn,
        load(ResNetBn::from_safetensors(&w("resnet_bn"))),
        |n, ws| { sum(n.forward(ws, &[0.5; 12288])) }
    ));
    checked.push(assert_no_allocations!(
        MobileNet,
        load(MobileNet::from_safetensors(&w("mobilenet"))),
        |n, ws| sum(n.forward(ws, &[0.5; 3072]))
    ));
    checked.push(assert_no_allocations!(
        Bilinear,
        load(Bilinear::from_safetensors(&w("bilinear"))),
        |n, ws| { sum(n.forward(ws, &[0.5; 60])) }
    ));
    checked.push(assert_no_allocations!(
        BnStandalone,
        load(BnStandalone::from_safetensors(&w("bn_standalone"))),
        |n, ws| sum(n.forward(ws, &[0.5; 120]))
    ));
    checked.push(assert_no_allocations!(
        UnetCrop,
        load(UnetCrop::from_safetensors(&w("unet_crop"))),
        |n, ws| { sum(n.forward(ws, &[0.5; 432])) }
    ));
    checked.push(assert_no_allocations!(
        LongReduction,
        load(LongReduction::from_safetensors(&w("long_reduction"))),
        |n, ws| {
            let (a, b, c, d, e, f, g, h) = n.forward(ws, &[0.5; 10240], &[-0.5; 6144]);
            [
                sum(a),
                sum(b),
                sum(c),
                sum(d),
                sum(e),
                sum(f),
                sum(g),
                sum(h),
            ]
            .iter()
            .sum::<f32>()
        }
    ));
    checked.push(assert_no_allocations!(
        WideChannels,
        load(WideChannels::from_safetensors(&w("wide_channels"))),
        |n, ws| {
            let (r, g, fc) = n.forward(ws, &[0.5; 144]);
            sum(r) + sum(g) + sum(fc)
        }
    ));
    checked.push(assert_no_allocations!(
        XceptionBlock,
        load(XceptionBlock::from_safetensors(&w("xception_block"))),
        |n, ws| sum(n.forward(ws, &[0.5; 2048]))
    ));
    checked.push(assert_no_allocations!(
        Padded,
        load(Padded::from_safetensors(&w("padded"))),
        |n, ws| sum(n.forward(ws, &[0.5; 5184]))
    ));
    // An int8 network: its own workspace type (an i8 arena), one thread.
    {
        let net = load(SeedUNetInt8::from_safetensors(&fixture(
            "int8/seed_unet",
            "weights.safetensors",
        )));
        let mut ws = SeedUNetInt8::workspace();
        for call in 0..3 {
            let (count, y) = allocations_during(|| net.forward(&mut ws, &[-60; 3072])[5]);
            assert_eq!(
                count, 0,
                "SeedUNetInt8::forward, call {call}: {count} allocations ({y})"
            );
        }
        checked.push("SeedUNetInt8");
    }
    // Baked weights: nothing loaded at run time at all.
    checked.push(assert_no_allocations!(
        BakedApes,
        BakedApes::BAKED,
        |n, ws| sum(n.forward(ws, x64))
    ));
    // `forward_array` on an ndarray view (the output is a view into the arena).
    #[cfg(feature = "ndarray")]
    {
        let x = skipnet::ndarray::Array3::<f32>::from_elem((13, 12, 5), 0.5);
        assert_no_allocations!(
            Corner,
            load(Corner::from_safetensors(&w("corner"))),
            |n, ws| { n.forward_array(ws, x.view()).sum() }
        );
    }
    println!("no allocation in forward on threads {THREADS:?}: {checked:?}");
    // Every fixture network of tests/common is in the list above.
    let common = include_str!("common/mod.rs");
    let declared: usize = ["network! {", "seed_unet! {", "apes_block_net! {"]
        .iter()
        .map(|m| common.matches(m).count())
        .sum();
    let fixtures = checked.iter().filter(|n| !n.starts_with("Baked")).count();
    assert_eq!(
        fixtures, declared,
        "a network of tests/common is not checked here"
    );
}

fn sum(y: &[f32]) -> f32 {
    y.iter().sum()
}
