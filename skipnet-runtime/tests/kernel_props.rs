//! Property tests of every kernel path against plain float64 reference loops
//! written here, over random geometries.
//!
//! Each property draws a geometry (and, for the convolutions, an output
//! layout and epilogue) from a strategy aimed at one path of the kernels,
//! fills the operands with pseudo-random values in [-1, 1), runs the kernel on
//! every ISA this machine has ([`isas_under_test`]) and compares every output
//! element with an f64 loop over the unpacked Keras weights.
//!
//! # Tolerance
//!
//! Every reference loop also sums the magnitudes of what it adds up: for an
//! output element, `mag = sum over the reduction of |x * w| + |bias|`. The
//! kernels accumulate in f32: each product and each addition rounds by at
//! most `u = 2^-24` (about 6e-8) of its result. With operands of random sign
//! (uniform in [-1, 1)) the running sum after `i` of `K` terms is a random
//! walk of size about `sqrt(i)`, far below `mag`, and the rounding errors are
//! as likely up as down: the total error has a standard deviation of about
//! `0.5 u * mag` whatever `K` is. (Its deterministic worst case for such data,
//! `u * sum_i |S_i|`, is about `0.9 sqrt(K) u * mag`.) The bound used,
//!
//! ```text
//! |got - want| <= L_post * (L_act * 1e-5 * mag + 1e-5 * sum |residual|) + 1e-6
//! ```
//!
//! allows 1e-5 (about 168 u) of `mag`: hundreds of standard deviations of
//! the summation error (and above its worst case up to `K` = 36,000), yet
//! small enough that one missing, doubled or misplaced term among thousands
//! (a pass reading the wrong channels, a tap off by one) shows. `L_act`, `L_post` are the activations' Lipschitz
//! constants (at most 1.13, GELU's steepest slope; 1 for the others), which
//! carry the pre-activation error through; the `1e-6` absolute term covers
//! the activations' own f32 evaluation (a few ulps of values of order 1) and
//! elements whose exact value is 0. Pooling uses the same bound with `mag`
//! the window's `sum |x|` divided by the cells averaged (max pooling must be
//! exact). Comparisons go through [`max_abs_diff_f64`], so a NaN or infinity
//! never passes; outputs the kernel must overwrite start as NaN, and channels
//! it must not touch start as a sentinel checked bit for bit.
//!
//! A tolerance is never loosened to make a case pass: a failure is a bug, and
//! its shrunk geometry becomes a named `regression_*` test below.
//!
//! # Running
//!
//! Cases per property: the `PROPTEST_CASES` environment variable, else each
//! property's default (chosen so that the whole file runs in about a minute
//! at the test profile's opt-level 1 on two cores). A run prints its RNG seed;
//! `PROPTEST_RNG_SEED=<seed>` replays it. No `proptest-regressions/` files
//! are written: shrunk failures are turned into named tests by hand. A long
//! run: `PROPTEST_CASES=10000 cargo test -p skipnet-runtime --release
//! --all-features --test kernel_props`.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use skipnet_runtime::compare::max_abs_diff_f64;
use skipnet_runtime::igemm::{self, conv_on, pack, packed_len, Isa, OutLayout, MAX_CIN};
use skipnet_runtime::ops::avg_pool2d::avg_pool2d_on;
use skipnet_runtime::ops::conv2d::Conv2dGeom;
use skipnet_runtime::ops::conv2d_transpose::{conv2d_transpose, Conv2dTransposeGeom};
use skipnet_runtime::ops::dense::{dense, dense_on};
use skipnet_runtime::ops::depthwise_conv2d;
use skipnet_runtime::ops::global_pool2d::{global_avg_pool2d, global_max_pool2d};
use skipnet_runtime::ops::max_pool2d::{max_pool2d_on, Pool2dGeom};
use skipnet_runtime::ops::Hwc;
use skipnet_runtime::testing::isas_under_test;
use skipnet_runtime::winograd::{self, WinogradGeom, WinogradTile};
use skipnet_runtime::{Activation, Exec};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

// ---------------------------------------------------------------------------
// Running properties
// ---------------------------------------------------------------------------

/// The one place this file makes and uses an [`Exec`]: `f` runs with an
/// executor of `threads` threads (the calling thread alone without the
/// `parallel` feature, where only `threads == 1` is drawn).
fn with_exec<R>(threads: usize, f: impl FnOnce(&mut Exec) -> R) -> R {
    #[cfg(feature = "parallel")]
    let mut exec = Exec::with_threads(threads);
    #[cfg(not(feature = "parallel"))]
    let mut exec = {
        assert_eq!(threads, 1, "threads need the `parallel` feature");
        Exec::serial()
    };
    f(&mut exec)
}

/// Threads drawn for the kernels that take an [`Exec`]: 1..=4 with the
/// `parallel` feature, else 1.
fn threads() -> BoxedStrategy<usize> {
    if cfg!(feature = "parallel") {
        prop_oneof![Just(1usize), 1..=4usize].boxed()
    } else {
        Just(1usize).boxed()
    }
}

/// Per-property tallies of which paths the drawn cases took (printed after a
/// run, so a strategy that stopped reaching a path is noticed).
#[derive(Default)]
struct Tally(RefCell<BTreeMap<&'static str, usize>>);

impl Tally {
    fn add(&self, what: &'static str) {
        *self.0.borrow_mut().entry(what).or_default() += 1;
    }
}

/// Runs `test` on cases drawn from `strategy`: `PROPTEST_CASES` cases, else
/// `default_cases`; seeded from `PROPTEST_RNG_SEED`, else at random (and the
/// seed printed). On failure, panics with the shrunk case and the number of
/// the first failing case.
fn check<S>(
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(&S::Value, &Tally) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    let seed = match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        }
    };
    config.rng_seed = RngSeed::Fixed(seed);
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let (ran, first_failure) = (Cell::new(0usize), Cell::new(None::<usize>));
    let tally = Tally::default();
    let start = Instant::now();
    let result = runner.run(&strategy, |case| {
        ran.set(ran.get() + 1);
        let r = catch_unwind(AssertUnwindSafe(|| test(&case, &tally))).unwrap_or_else(|e| {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(TestCaseError::fail(format!("panicked: {msg}")))
        });
        if r.is_err() && first_failure.get().is_none() {
            first_failure.set(Some(ran.get()));
        }
        r
    });
    let secs = start.elapsed().as_secs_f64();
    match result {
        Ok(()) => {
            let paths = tally.0.borrow();
            let paths = if paths.is_empty() {
                String::new()
            } else {
                format!("; paths: {paths:?}")
            };
            eprintln!(
                "{name}: {cases} cases passed in {secs:.1} s (PROPTEST_RNG_SEED={seed}){paths}"
            )
        }
        Err(e) => panic!(
            "{name}: {e}\nfirst failure at case {} (then shrunk; {} runs in all, {secs:.1} s); \
             replay with PROPTEST_RNG_SEED={seed} PROPTEST_CASES={cases}",
            first_failure.get().unwrap_or(0),
            ran.get()
        ),
    }
}

// ---------------------------------------------------------------------------
// Data and f64 references
// ---------------------------------------------------------------------------

/// `n` pseudo-random values in [-1, 1) from `seed` (xorshift64*).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let r = s.wrapping_mul(0x2545_F491_4F6C_DD1D);
            ((r >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

const ACTIVATIONS: [Activation; 10] = [
    Activation::Linear,
    Activation::Relu,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Relu6,
    Activation::Elu,
    Activation::HardSigmoid,
    Activation::Swish,
    Activation::Gelu,
    Activation::HardSilu,
];

fn activation() -> impl Strategy<Value = Activation> + Clone {
    prop::sample::select(&ACTIVATIONS[..])
}

/// The activation in f64, from its Keras definition.
fn act64(a: Activation, x: f64) -> f64 {
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    match a {
        Activation::Linear => x,
        Activation::Relu => x.max(0.0),
        Activation::Sigmoid => sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Relu6 => x.clamp(0.0, 6.0),
        Activation::Elu => {
            if x > 0.0 {
                x
            } else {
                x.exp_m1()
            }
        }
        Activation::HardSigmoid => (x + 3.0).clamp(0.0, 6.0) / 6.0,
        Activation::HardSilu => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        Activation::Swish => x * sigmoid(x),
        Activation::Gelu => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
    }
}

/// Largest slope of the activation (GELU's is 1.129 at x = 2.42; swish's
/// 1.0998), rounded up: how much it can amplify an error in its input.
fn lipschitz(a: Activation) -> f64 {
    match a {
        Activation::Gelu => 1.13,
        Activation::Swish => 1.1,
        // (2x + 3) / 6 at its steepest, x = 3.
        Activation::HardSilu => 1.5,
        _ => 1.0,
    }
}

/// Relative part of the tolerance (see the module docs).
const REL: f64 = 1e-5;

/// Winograd's relative tolerances (of `mag`, as `REL`), from the worst
/// errors `winograd_error_is_documented` measures, with a margin.
const WINOGRAD_F2_REL: f64 = 1e-5;
const WINOGRAD_F4_REL: f64 = 2e-5;
/// Absolute part of the tolerance.
const ABS: f64 = 1e-6;

/// Per-element comparison: `got[i]` within `tol[i]` of `want[i]`, NaN-aware.
fn compare(what: &str, got: &[f32], want: &[f64], tol: &[f64]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "{}: lengths", what);
    let worst = max_abs_diff_f64(got, want);
    for i in 0..got.len() {
        let d = max_abs_diff_f64(&got[i..=i], &want[i..=i]);
        if d > tol[i] {
            return Err(TestCaseError::fail(format!(
                "{what}: element {i} of {}: got {}, want {}, |diff| {d:e} > tol {:e} \
                 (largest diff {worst:e})",
                got.len(),
                got[i],
                want[i],
                tol[i]
            )));
        }
    }
    Ok(())
}

/// The conv in f64 from Keras' definition: per output element (pixel-major,
/// `o.c` filters), `bias + sum x * w` before the activation, and the sum of
/// the magnitudes of those terms. The input the conv sees is the stored one
/// upsampled by `g.upsample` (cell `(iy / up0, ix / up1)`); `kernel` is
/// Keras' `[kh, kw, in / groups, filters]`.
fn conv_ref(
    g: &Conv2dGeom,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
) -> (Vec<f64>, Vec<f64>) {
    let (i, o) = (g.input, g.output);
    let (cin_g, cout_g) = (i.c / g.groups, o.c / g.groups);
    let (hu, wu) = (i.h * g.upsample.0, i.w * g.upsample.1);
    let mut sum = vec![0.0f64; o.len()];
    let mut mag = vec![0.0f64; o.len()];
    for oy in 0..o.h {
        for ox in 0..o.w {
            let p = (oy * o.w + ox) * o.c;
            let (s, m) = (&mut sum[p..p + o.c], &mut mag[p..p + o.c]);
            if let Some(b) = bias {
                for f in 0..o.c {
                    s[f] = f64::from(b[f]);
                    m[f] = f64::from(b[f]).abs();
                }
            }
            for ky in 0..g.kernel.0 {
                let iy = (oy * g.strides.0 + ky * g.dilation.0) as isize - g.pad.0 as isize;
                if iy < 0 || iy as usize >= hu {
                    continue;
                }
                let iy = iy as usize / g.upsample.0;
                for kx in 0..g.kernel.1 {
                    let ix = (ox * g.strides.1 + kx * g.dilation.1) as isize - g.pad.1 as isize;
                    if ix < 0 || ix as usize >= wu {
                        continue;
                    }
                    let ix = ix as usize / g.upsample.1;
                    let xp = &x[(iy * i.w + ix) * i.c..][..i.c];
                    for grp in 0..g.groups {
                        for ci in 0..cin_g {
                            let xv = f64::from(xp[grp * cin_g + ci]);
                            let w = &kernel
                                [((ky * g.kernel.1 + kx) * cin_g + ci) * o.c + grp * cout_g..]
                                [..cout_g];
                            let (s, m) = (&mut s[grp * cout_g..], &mut m[grp * cout_g..]);
                            for f in 0..cout_g {
                                let t = xv * f64::from(w[f]);
                                s[f] += t;
                                m[f] += t.abs();
                            }
                        }
                    }
                }
            }
        }
    }
    (sum, mag)
}

/// Keras `DepthwiseConv2D` in f64, written in its own terms: output channel
/// `c * dm + j` is input channel `c` convolved with `kernel[.., .., c, j]`
/// (`[kh, kw, in, dm]`). Same conventions as [`conv_ref`]; `g` is the grouped
/// conv (`groups = in`, `filters = in * dm`) the macro makes of it.
fn depthwise_ref(
    g: &Conv2dGeom,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
) -> (Vec<f64>, Vec<f64>) {
    let (i, o) = (g.input, g.output);
    let dm = o.c / i.c;
    let (hu, wu) = (i.h * g.upsample.0, i.w * g.upsample.1);
    let mut sum = vec![0.0f64; o.len()];
    let mut mag = vec![0.0f64; o.len()];
    for oy in 0..o.h {
        for ox in 0..o.w {
            for c in 0..i.c {
                for j in 0..dm {
                    let f = c * dm + j;
                    let (mut s, mut m) = match bias {
                        Some(b) => (f64::from(b[f]), f64::from(b[f]).abs()),
                        None => (0.0, 0.0),
                    };
                    for ky in 0..g.kernel.0 {
                        let iy = (oy * g.strides.0 + ky * g.dilation.0) as isize - g.pad.0 as isize;
                        if iy < 0 || iy as usize >= hu {
                            continue;
                        }
                        for kx in 0..g.kernel.1 {
                            let ix =
                                (ox * g.strides.1 + kx * g.dilation.1) as isize - g.pad.1 as isize;
                            if ix < 0 || ix as usize >= wu {
                                continue;
                            }
                            let (iy, ix) = (iy as usize / g.upsample.0, ix as usize / g.upsample.1);
                            let t = f64::from(x[(iy * i.w + ix) * i.c + c])
                                * f64::from(kernel[((ky * g.kernel.1 + kx) * i.c + c) * dm + j]);
                            s += t;
                            m += t.abs();
                        }
                    }
                    let p = (oy * o.w + ox) * o.c + f;
                    sum[p] = s;
                    mag[p] = m;
                }
            }
        }
    }
    (sum, mag)
}

// ---------------------------------------------------------------------------
// Convolution cases
// ---------------------------------------------------------------------------

/// A conv geometry before it is made consistent by [`build`].
#[derive(Clone, Copy, Debug)]
struct Shape {
    kernel: (usize, usize),
    cin: usize,
    filters: usize,
    /// Channel groups (`cin` and `filters` are rounded to multiples).
    groups: usize,
    /// `Some(depth_multiplier)`: a depthwise conv (`groups = cin`,
    /// `filters = cin * dm`; `filters` and `groups` are ignored).
    depthwise: Option<usize>,
    strides: (usize, usize),
    dilation: (usize, usize),
    upsample: (usize, usize),
    same: bool,
    /// Wanted output size (reduced to fit the MAC budget).
    out: (usize, usize),
    /// Extra input cells (modulo the stride): inputs that do not divide evenly.
    slack: (usize, usize),
    /// Extra leading pad (top, left) on top of `same`/`valid`'s: what a
    /// zero padding the macro folds into the conv adds (MobileNetV2's
    /// paddings before its stride-2 depthwise convs).
    lead: (usize, usize),
    act: Activation,
}

/// Extra leading pads (see `Shape::lead`): none mostly, else up to 3.
fn leads() -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![3 => Just((0usize, 0usize)), 1 => (0..=3usize, 0..=3usize)]
}

/// Output size and leading pad along one axis, TensorFlow's rules
/// (`same`: total = max((out - 1) * s + (k - 1) * d + 1 - in, 0), top/left
/// = total / 2), for an upsampled input length `in_up`.
fn axis_out(in_up: usize, k: usize, s: usize, d: usize, same: bool) -> (usize, usize) {
    let span = (k - 1) * d + 1;
    if same {
        let out = in_up.div_ceil(s);
        (out, ((out - 1) * s + span).saturating_sub(in_up) / 2)
    } else {
        ((in_up - span) / s + 1, 0)
    }
}

/// The stored input length for about `out` outputs along one axis.
fn axis_in(out: usize, k: usize, s: usize, d: usize, up: usize, same: bool, slack: usize) -> usize {
    let span = (k - 1) * d + 1;
    let need = if same {
        (out - 1) * s + 1
    } else {
        (out - 1) * s + span
    };
    (need + slack % s).div_ceil(up)
}

/// A valid conv geometry from `s`, with about `min_macs..=max_macs`
/// multiply-adds (the input channels, then the output size, are cut down to
/// fit; a tiny output can overshoot `max_macs` a little).
fn build(s: Shape, min_macs: usize, max_macs: usize) -> Conv2dGeom {
    let (kh, kw) = s.kernel;
    let taps = kh * kw;
    let (cin, filters, groups) = match s.depthwise {
        Some(dm) => {
            let cin = s.cin.min((max_macs / (taps * dm)).max(1));
            (cin, cin * dm, cin)
        }
        None => {
            // Both channel counts rounded down to multiples of the groups.
            let g = s.groups;
            let round = |n: usize| (n / g * g).max(g);
            let filters = round(s.filters);
            let cin_g = (max_macs / (taps * filters)).max(1);
            (round(s.cin.min(cin_g * g)), filters, g)
        }
    };
    let per_px = taps * (cin / groups) * filters;
    let (min_px, max_px) = (min_macs.div_ceil(per_px), (max_macs / per_px).max(1));
    let (mut oh, mut ow) = s.out;
    while oh * ow < min_px {
        if oh <= ow {
            oh *= 2
        } else {
            ow *= 2
        }
    }
    let mut g = Conv2dGeom {
        input: Hwc { h: 1, w: 1, c: cin },
        upsample: s.upsample,
        output: Hwc {
            h: 1,
            w: 1,
            c: filters,
        },
        kernel: s.kernel,
        strides: s.strides,
        dilation: s.dilation,
        pad: (0, 0),
        groups,
        activation: s.act,
    };
    let lead = s.lead;
    loop {
        let ih = axis_in(
            oh,
            kh,
            s.strides.0,
            s.dilation.0,
            s.upsample.0,
            s.same,
            s.slack.0,
        );
        let iw = axis_in(
            ow,
            kw,
            s.strides.1,
            s.dilation.1,
            s.upsample.1,
            s.same,
            s.slack.1,
        );
        let (gh, ph) = axis_out(ih * s.upsample.0, kh, s.strides.0, s.dilation.0, s.same);
        let (gw, pw) = axis_out(iw * s.upsample.1, kw, s.strides.1, s.dilation.1, s.same);
        g.input.h = ih;
        g.input.w = iw;
        g.output.h = gh;
        g.output.w = gw;
        g.pad = (ph + lead.0, pw + lead.1);
        if gh * gw <= max_px.max(min_px) || (oh == 1 && ow == 1) {
            return g;
        }
        if oh >= ow {
            oh = oh.div_ceil(2)
        } else {
            ow = ow.div_ceil(2)
        }
    }
}

/// What the conv's output layout and epilogue do.
#[derive(Clone, Copy, Debug)]
struct Epilogue {
    bias: bool,
    /// Residual tensors added after the activation.
    residuals: usize,
    /// The output starts out holding one more residual (in-place add).
    accumulate: bool,
    /// `Some((before, after))`: the output is a slot of a concat with that
    /// many other channels before and after it.
    slot: Option<(usize, usize)>,
    post: Activation,
}

fn epilogue() -> impl Strategy<Value = Epilogue> {
    (
        any::<bool>(),
        prop_oneof![2 => Just(0usize), 1 => 1..=2usize],
        prop_oneof![2 => Just(false), 1 => Just(true)],
        prop::option::of((0..=5usize, 0..=5usize)),
        prop_oneof![2 => Just(Activation::Linear), 1 => activation()],
    )
        .prop_map(|(bias, residuals, accumulate, slot, post)| Epilogue {
            bias,
            residuals,
            accumulate,
            slot,
            post,
        })
}

#[derive(Clone, Copy, Debug)]
struct ConvCase {
    g: Conv2dGeom,
    epi: Epilogue,
    threads: usize,
    seed: u64,
}

/// Cases over `shapes`, each cut to `min_macs..=max_macs` multiply-adds.
fn conv_cases(
    shapes: impl Strategy<Value = Shape>,
    threads: impl Strategy<Value = usize>,
    min_macs: usize,
    max_macs: usize,
) -> impl Strategy<Value = ConvCase> {
    (shapes, epilogue(), threads, any::<u64>()).prop_map(move |(s, epi, threads, seed)| {
        let mut g = build(s, min_macs, max_macs);
        // `conv_on` allows an in-place add over several passes only for a
        // linear layer (it asserts so, as the macro guarantees).
        if epi.accumulate && !igemm::single_pass(&g) {
            g.activation = Activation::Linear;
        }
        ConvCase {
            g,
            epi,
            threads,
            seed,
        }
    })
}

/// Whether the driver instantiated with `$mr * $mb = block_px` and a window
/// of `win` floats reads this conv row-merged (a copy of the driver's
/// condition, for the path tallies only).
fn row_merged(g: &Conv2dGeom, block_px: usize, win: usize) -> bool {
    let (i, o) = (g.input, g.output);
    let pad_r = ((o.w - 1) * g.strides.1 + g.kernel.1).saturating_sub(g.pad.1 + i.w);
    let wp = g.pad.1 + i.w + pad_r;
    let rows_max = (o.h.min(block_px.div_ceil(o.w) + 1) - 1) * g.strides.0
        + (g.kernel.0 - 1) * g.dilation.0
        + 1;
    g.groups == 1
        && g.dilation.1 == 1
        && g.upsample == (1, 1)
        && g.kernel.1 > 1
        && i.c < igemm::MERGE_BELOW_CIN
        && g.kernel.0 <= igemm::TAPS_PER_PASS
        && rows_max * wp * i.c <= win
}

fn tally_conv(c: &ConvCase, t: &Tally) {
    let g = &c.g;
    let cin_g = g.input.c / g.groups;
    t.add("cases");
    // AVX-512's blocking (8 x 8 tiles of pixels, 12288-float window).
    if row_merged(g, 64, 12288) {
        t.add("row-merged");
        if g.kernel.1 * g.input.c > MAX_CIN {
            t.add("row-merged unit > MAX_CIN");
        }
    }
    if cin_g > MAX_CIN {
        t.add("channel passes");
    }
    if g.kernel.0 * g.kernel.1 > igemm::TAPS_PER_PASS {
        t.add("tap passes");
    }
    if g.output.h * g.output.w >= 4096 {
        t.add("large map");
    }
    if g.groups > 1 {
        t.add("grouped");
    }
    if g.groups == 1
        && g.output.c <= 4
        && (16..=MAX_CIN).contains(&g.input.c)
        && igemm::k_len(g) * g.output.c <= 4096
    {
        t.add("at most 4 filters, reduced in the lanes (AVX-512)");
    }
    if g.upsample != (1, 1) {
        t.add("upsample");
    }
    if c.epi.accumulate {
        t.add("in place");
    }
    if c.epi.slot.is_some() {
        t.add("concat slot");
    }
    // The driver's `AfterBlock`: activations past relu6 over each finished
    // block (the layer's one only with nothing added before the post).
    let register =
        |a: Activation| matches!(a, Activation::Linear | Activation::Relu | Activation::Relu6);
    if !register(g.activation) && c.epi.residuals == 0 && !c.epi.accumulate {
        t.add("activation after the block");
    } else if !register(c.epi.post) {
        t.add("post activation after the block");
    }
    if c.threads > 1
        && g.output.h * g.output.w * g.output.c * igemm::k_len(g) >= igemm::PARALLEL_MIN_MACS
    {
        t.add("split over threads");
    }
}

/// Runs one conv case on every ISA in `isas` and checks it against the f64
/// reference (`depthwise`: the Keras depthwise kernel layout and reference),
/// the concat slot's other channels against the sentinel, and, with several
/// threads, the result bit for bit against one thread's.
/// Which kernel a conv case runs through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    /// The implicit GEMM (`igemm::conv_on`), any groups.
    Igemm,
    /// A depthwise layer as a grouped conv through the implicit GEMM.
    GroupedDepthwise,
    /// The dedicated depthwise kernel (`ops::depthwise_conv2d`), what the
    /// macro generates for depthwise layers.
    DepthwiseKernel,
    /// Winograd (`winograd::conv_on`), stride-1 3x3 layers.
    Winograd(WinogradTile),
}

impl Path {
    /// The relative part of the tolerance (see the module docs): the direct
    /// kernels' `REL`; Winograd's transforms add rounding of their own,
    /// bounded by the measured worst case (`winograd_error_is_documented`)
    /// with a margin, relative to the largest `mag` of the output's tile
    /// (see `check_conv`).
    fn rel(self) -> f64 {
        match self {
            Path::Winograd(WinogradTile::F2) => WINOGRAD_F2_REL,
            Path::Winograd(WinogradTile::F4) => WINOGRAD_F4_REL,
            _ => REL,
        }
    }
}

fn check_conv(c: &ConvCase, isas: &[Isa], path: Path, tally: &Tally) -> Result<(), TestCaseError> {
    use skipnet_runtime::ops::depthwise_conv2d::{
        depthwise_conv2d_on, pack_kernel as pack_depthwise, packed_kernel_len,
    };
    const SENTINEL: f32 = -7777.25;
    let (g, epi) = (&c.g, &c.epi);
    if path == Path::DepthwiseKernel {
        tally_depthwise(c, tally);
    } else {
        tally_conv(c, tally);
    }
    let o = g.output;
    let m = o.h * o.w;
    let x = values(g.input.len(), c.seed);
    let kernel = values(g.kernel_len(), c.seed ^ 1);
    // In half the cases (by the seed's parity) biases reach 6, which puts
    // some sums past relu6's clamp (nine or more products of values in
    // -1..1 rarely reach it: a sweep that dropped the clamp passed). The
    // other half keep them in -1..1: a bias of 6 saturates its channel
    // under relu, hard sigmoid or tanh, where a wrong sum goes unseen, and
    // widens the tolerance (`mag` counts the bias).
    let bias_scale = if c.seed.is_multiple_of(2) { 6.0 } else { 1.0 };
    let bias = epi.bias.then(|| {
        values(o.c, c.seed ^ 2)
            .into_iter()
            .map(|b| bias_scale * b)
            .collect::<Vec<f32>>()
    });
    let residuals: Vec<Vec<f32>> = (0..epi.residuals)
        .map(|r| values(o.len(), c.seed ^ (3 + r as u64)))
        .collect();
    let start = epi.accumulate.then(|| values(o.len(), c.seed ^ 9));

    // The f64 reference and its tolerance.
    let (sum, mag) = if matches!(path, Path::Igemm | Path::Winograd(_)) {
        conv_ref(g, &x, &kernel, bias.as_deref())
    } else {
        depthwise_ref(g, &x, &kernel, bias.as_deref())
    };
    // Winograd's transforms mix all of an output tile's inputs (a 6x6 patch
    // for F(4x4)), so its rounding scales with the largest `mag` of the
    // tile's outputs (per filter), not with each output's own: an output
    // whose window holds small values next to large ones is off by the
    // large ones' rounding (found by this test: F(4x4), one channel,
    // upsampled input, 8.8e-5 of the output's own `mag`).
    let mag = match path {
        Path::Winograd(tile) => {
            let t = tile.m();
            (0..o.len())
                .map(|e| {
                    let (p, f) = (e / o.c, e % o.c);
                    let (ty, tx) = (p / o.w / t * t, p % o.w / t * t);
                    let mut worst = 0.0f64;
                    for y in ty..(ty + t).min(o.h) {
                        for x in tx..(tx + t).min(o.w) {
                            worst = worst.max(mag[(y * o.w + x) * o.c + f]);
                        }
                    }
                    worst
                })
                .collect()
        }
        _ => mag,
    };
    let mut want = vec![0.0f64; o.len()];
    let mut tol = vec![0.0f64; o.len()];
    for e in 0..o.len() {
        let mut y = act64(g.activation, sum[e]);
        let mut res_mag = 0.0;
        for r in start.iter().chain(&residuals) {
            y += f64::from(r[e]);
            res_mag += f64::from(r[e]).abs();
        }
        want[e] = act64(epi.post, y);
        tol[e] = lipschitz(epi.post)
            * (lipschitz(g.activation) * path.rel() * mag[e] + REL * res_mag)
            + ABS;
    }

    let packed = if path == Path::DepthwiseKernel {
        let mut p = vec![0.0f32; packed_kernel_len(g)];
        pack_depthwise(g, &kernel, &mut p);
        p
    } else if let Path::Winograd(tile) = path {
        let wg = WinogradGeom { conv: *g, tile };
        let mut p = vec![0.0f32; wg.packed_kernel_len()];
        winograd::pack_kernel(&wg, &kernel, &mut p);
        p
    } else {
        let mut p = vec![0.0f32; packed_len(g)];
        pack(g, &kernel, &mut p);
        p
    };
    let (before, after) = epi.slot.unwrap_or((0, 0));
    let stride = before + o.c + after;
    let residual_refs: Vec<&[f32]> = residuals.iter().map(|r| r.as_slice()).collect();
    let layout = OutLayout {
        stride,
        offset: before,
        residual: &residual_refs,
        accumulate: epi.accumulate,
        post: epi.post,
    };
    let fresh = || {
        let mut out = vec![SENTINEL; m * stride];
        for p in 0..m {
            let slot = &mut out[p * stride + before..][..o.c];
            match &start {
                Some(s) => slot.copy_from_slice(&s[p * o.c..][..o.c]),
                None => slot.fill(f32::NAN),
            }
        }
        out
    };
    let slot_of = |out: &[f32]| -> Vec<f32> {
        (0..m)
            .flat_map(|p| out[p * stride + before..][..o.c].iter().copied())
            .collect()
    };
    for &isa in isas {
        let run = |threads: usize| {
            let mut out = fresh();
            let b = bias.as_deref();
            with_exec(threads, |exec| match path {
                Path::DepthwiseKernel => {
                    depthwise_conv2d_on(exec, isa, g, &x, &packed, b, &mut out, layout)
                }
                Path::Winograd(tile) => {
                    let wg = WinogradGeom { conv: *g, tile };
                    // NaN-filled: nothing may read scratch it did not write.
                    let mut scratch = vec![f32::NAN; wg.scratch_len()];
                    winograd::conv_on(
                        exec,
                        isa,
                        &wg,
                        &x,
                        &packed,
                        b,
                        &mut out,
                        layout,
                        &mut scratch,
                    )
                }
                _ => conv_on(exec, isa, g, &x, &packed, b, &mut out, layout),
            });
            out
        };
        let out = run(c.threads);
        for p in 0..m {
            let row = &out[p * stride..][..stride];
            let untouched = row[..before]
                .iter()
                .chain(&row[before + o.c..])
                .all(|v| v.to_bits() == SENTINEL.to_bits());
            prop_assert!(
                untouched,
                "{:?}: pixel {} wrote outside its concat slot: {:?}",
                isa,
                p,
                row
            );
        }
        compare(&format!("{isa:?}"), &slot_of(&out), &want, &tol)?;
        if c.threads > 1 {
            let one = run(1);
            let same_bits = out
                .iter()
                .zip(&one)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            prop_assert!(
                same_bits,
                "{:?}: {} threads differ from one thread",
                isa,
                c.threads
            );
        }
    }
    Ok(())
}

/// Kernel sides: mostly small, some up to 64, some long and thin.
fn kernel_sides() -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![
        6 => (1..=5usize, 1..=5usize),
        2 => (1..=64usize, 1..=64usize),
        2 => prop_oneof![
            (Just(1usize), 2..=64usize),
            (2..=64usize, Just(1usize)),
            (1..=4usize, 30..=64usize),
            (30..=64usize, 1..=4usize),
            prop::sample::select(vec![(1usize, 64usize), (64, 1), (3, 60), (60, 3)]),
        ],
    ]
}

/// Input channels 1..=4096, with the pass boundaries (64: row merging;
/// 2048: `MAX_CIN`) and their neighbours drawn often.
fn channels() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 1..=8usize,
        3 => 9..=63usize,
        1 => 64..=300usize,
        2 => 301..=4096usize,
        1 => prop::sample::select(vec![63usize, 64, 65, 2047, 2048, 2049, 4095, 4096]),
    ]
}

fn filters() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 1..=80usize,
        // Heads of 1-4 filters (AVX-512 reduces those in the lanes).
        1 => 1..=4usize,
        1 => prop::sample::select(vec![1usize, 8, 9, 15, 16, 17, 31, 32, 33, 48, 64, 65, 80]),
    ]
}

/// Mostly one group; else 2..=8, or many (16..=64: depthwise-like).
fn groups() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => Just(1usize),
        1 => 2..=8usize,
        1 => prop::sample::select(vec![16usize, 32, 64]),
    ]
}

fn strides() -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![Just((1usize, 1usize)), (1..=4usize, 1..=4usize)]
}

fn dilations() -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![2 => Just((1usize, 1usize)), 1 => (1..=3usize, 1..=3usize)]
}

fn upsamples() -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![3 => Just((1usize, 1usize)), 1 => (1..=3usize, 1..=3usize)]
}

/// Any conv: every parameter over its whole range; outputs up to `out`
/// square, sometimes up to 256 x 256 (large maps, cut down unless the
/// reduction is short).
fn any_shape(out: usize) -> impl Strategy<Value = Shape> {
    (
        kernel_sides(),
        channels(),
        filters(),
        groups(),
        strides(),
        dilations(),
        upsamples(),
        any::<bool>(),
        prop_oneof![3 => (1..=out, 1..=out), 1 => (1..=256usize, 1..=256usize)],
        ((0..4usize, 0..4usize), leads()),
        activation(),
    )
        .prop_map(
            |(
                kernel,
                cin,
                filters,
                groups,
                strides,
                dilation,
                upsample,
                same,
                out,
                (slack, lead),
                act,
            )| {
                Shape {
                    kernel,
                    cin,
                    filters,
                    groups,
                    depthwise: None,
                    strides,
                    dilation,
                    upsample,
                    same,
                    out,
                    slack,
                    lead,
                    act,
                }
            },
        )
}

/// Multiply-adds per case (and of the f64 reference): about a millisecond of
/// each at opt-level 1.
const MACS: usize = 1 << 20;

#[test]
fn conv_matches_f64_reference() {
    let isas = isas_under_test("conv_matches_f64_reference");
    check(
        "conv_matches_f64_reference",
        512,
        conv_cases(any_shape(40), Just(1usize), 0, MACS),
        |c, t| check_conv(c, &isas, Path::Igemm, t),
    );
}

/// The row-merged mode: one group, no column dilation, no upsample, a kernel
/// more than one column wide, fewer than 64 input channels; units of
/// `kw * cin` floats both below and above `MAX_CIN`.
#[test]
fn conv_row_merged_matches_f64_reference() {
    let isas = isas_under_test("conv_row_merged_matches_f64_reference");
    // Kernel rows and columns, and input channels: any, or rows of more
    // than `MAX_CIN` floats (`kw * cin > 2048`) on a few kernel rows.
    let sizes = prop_oneof![
        (
            prop_oneof![2 => 1..=3usize, 1 => 1..=25usize],
            prop_oneof![2..=8usize, 30..=64usize],
            prop_oneof![1..=16usize, 17..=63usize],
        ),
        (1..=3usize, 33..=64usize).prop_flat_map(|(kh, kw)| (
            Just(kh),
            Just(kw),
            (MAX_CIN / kw + 1)..=63usize
        )),
    ];
    let shapes = (
        sizes,
        filters(),
        strides(),
        (1..=3usize, Just(1usize)),
        any::<bool>(),
        (1..=12usize, 1..=80usize),
        (0..4usize, 0..4usize),
        activation(),
    )
        .prop_map(
            |((kh, kw, cin), filters, strides, dilation, same, out, slack, act)| Shape {
                kernel: (kh, kw),
                cin,
                filters,
                groups: 1,
                depthwise: None,
                strides,
                dilation,
                upsample: (1, 1),
                same,
                out,
                slack,
                lead: (0, 0),
                act,
            },
        );
    check(
        "conv_row_merged_matches_f64_reference",
        512,
        conv_cases(shapes, Just(1usize), 0, MACS),
        |c, t| check_conv(c, &isas, Path::Igemm, t),
    );
}

/// Long reductions on tiny maps: more than `TAPS_PER_PASS` taps (up to
/// 64 x 64) or more than `MAX_CIN` channels per group (up to 4096), which
/// take several passes.
#[test]
fn conv_multi_pass_matches_f64_reference() {
    let isas = isas_under_test("conv_multi_pass_matches_f64_reference");
    // (kernel, input channels, filters, groups): more than `MAX_CIN`
    // channels per group on small kernels and few filters (so the budget
    // keeps the channels); more than `TAPS_PER_PASS` taps; or both.
    let reductions = prop_oneof![
        (
            prop_oneof![3 => (1..=2usize, 1..=2usize), 1 => (1..=5usize, 1..=5usize)],
            prop_oneof![
                2049..=4096usize,
                prop::sample::select(vec![2047usize, 2048, 2049, 4095, 4096]),
            ],
            prop_oneof![1..=16usize, 17..=80usize],
            prop_oneof![3 => Just(1usize), 1 => Just(2usize)],
        ),
        (
            prop_oneof![
                (6..=64usize, 6..=64usize),
                (1..=64usize, 26..=64usize),
                (26..=64usize, 1..=64usize),
                prop::sample::select(vec![(1usize, 64usize), (64, 1), (3, 60), (5, 6), (26, 1)]),
            ],
            prop_oneof![1..=8usize, 9..=64usize],
            filters(),
            groups(),
        ),
        (
            prop_oneof![(1usize..=2, 26..=64usize), (26..=64usize, 1usize..=2)],
            2049..=4096usize,
            1..=8usize,
            Just(1usize),
        ),
    ];
    let shapes = (
        reductions,
        strides(),
        dilations(),
        upsamples(),
        any::<bool>(),
        (1..=4usize, 1..=4usize),
        (0..4usize, 0..4usize),
        activation(),
    )
        .prop_map(
            |(
                (kernel, cin, filters, groups),
                strides,
                dilation,
                upsample,
                same,
                out,
                slack,
                act,
            )| {
                Shape {
                    kernel,
                    cin,
                    filters,
                    groups,
                    depthwise: None,
                    strides,
                    dilation,
                    upsample,
                    same,
                    out,
                    slack,
                    lead: (0, 0),
                    act,
                }
            },
        );
    check(
        "conv_multi_pass_matches_f64_reference",
        256,
        conv_cases(shapes, Just(1usize), 0, 2 * MACS),
        |c, t| check_conv(c, &isas, Path::Igemm, t),
    );
}

/// Large maps (64..=256 pixels a side) with short reductions: many blocks
/// per row and rows per block, the edges of the row-merged window.
#[test]
fn conv_large_maps_match_f64_reference() {
    let isas = isas_under_test("conv_large_maps_match_f64_reference");
    let shapes = (
        (1..=3usize, 1..=3usize),
        1..=4usize,
        1..=16usize,
        strides(),
        dilations(),
        upsamples(),
        any::<bool>(),
        (64..=256usize, 64..=256usize),
        (0..4usize, 0..4usize),
        activation(),
    )
        .prop_map(
            |(kernel, cin, filters, strides, dilation, upsample, same, out, slack, act)| Shape {
                kernel,
                cin,
                filters,
                groups: 1,
                depthwise: None,
                strides,
                dilation,
                upsample,
                same,
                out,
                slack,
                lead: (0, 0),
                act,
            },
        );
    check(
        "conv_large_maps_match_f64_reference",
        128,
        conv_cases(shapes, Just(1usize), 0, 2 * MACS),
        |c, t| check_conv(c, &isas, Path::Igemm, t),
    );
}

/// Convs big enough to be split over 2..=4 threads (pixel blocks, and filter
/// ranges on small maps): the f64 reference, and one thread's result bit
/// for bit.
#[cfg(feature = "parallel")]
#[test]
fn conv_threads_match_f64_reference() {
    let isas = isas_under_test("conv_threads_match_f64_reference");
    check(
        "conv_threads_match_f64_reference",
        96,
        conv_cases(
            any_shape(64),
            2..=4usize,
            igemm::PARALLEL_MIN_MACS,
            4 * igemm::PARALLEL_MIN_MACS,
        ),
        |c, t| check_conv(c, &isas, Path::Igemm, t),
    );
}

/// Keras `DepthwiseConv2D` as the macro runs it: a conv with one group per
/// input channel and `depth_multiplier` filters each, whose packed kernel is
/// Keras' `[kh, kw, in, dm]` kernel read as `[kh, kw, 1, in * dm]`.
#[test]
fn depthwise_matches_f64_reference() {
    let isas = isas_under_test("depthwise_matches_f64_reference");
    let shapes = (
        kernel_sides(),
        prop_oneof![
            1..=16usize,
            17..=300usize,
            prop::sample::select(vec![63usize, 64, 65])
        ],
        1..=4usize,
        strides(),
        dilations(),
        upsamples(),
        any::<bool>(),
        prop_oneof![3 => (1..=40usize, 1..=40usize), 1 => (1..=128usize, 1..=128usize)],
        (0..4usize, 0..4usize),
        activation(),
    )
        .prop_map(
            |(kernel, cin, dm, strides, dilation, upsample, same, out, slack, act)| Shape {
                kernel,
                cin,
                filters: cin * dm,
                groups: 1,
                depthwise: Some(dm),
                strides,
                dilation,
                upsample,
                same,
                out,
                slack,
                lead: (0, 0),
                act,
            },
        );
    check(
        "depthwise_matches_f64_reference",
        256,
        conv_cases(shapes, threads(), 0, MACS),
        |c, t| check_conv(c, &isas, Path::GroupedDepthwise, t),
    );
}

/// What a case of the dedicated depthwise kernel exercises (printed after
/// the run, so a path no case reached shows).
fn tally_depthwise(c: &ConvCase, tally: &Tally) {
    let (g, epi) = (&c.g, &c.epi);
    let o = g.output;
    let m = o.h * o.w;
    tally.add("cases");
    for (on, what) in [
        (o.c / g.input.c > 1, "depth multiplier > 1"),
        (g.strides != (1, 1), "strided"),
        (g.dilation != (1, 1), "dilated"),
        (g.upsample != (1, 1), "upsample"),
        (g.kernel.0 * g.kernel.1 > igemm::TAPS_PER_PASS, "> 25 taps"),
        (g.input.c % 8 != 0, "channel tail"),
        (
            o.c == g.input.c && g.input.c % 16 >= 8,
            "a tail of 8 channels in an AVX2 vector (AVX-512)",
        ),
        (sweeps_3x3(c), "3x3 register sweep (AVX2)"),
        (
            sweeps_3x3(c) && o.w >= 14,
            "3x3 register sweep in zmm (AVX-512: at least 14 wide)",
        ),
        (
            sweeps_3x3(c) && o.w >= 14 && o.c % 16 != 0,
            "3x3 zmm sweep with a masked channel tail (AVX-512)",
        ),
        (epi.accumulate, "in place"),
        (epi.slot.is_some(), "concat slot"),
        (epi.residuals > 0, "residuals"),
        (
            activation_after_stores(c),
            "activation after the stores (SIMD, depth multiplier 1)",
        ),
        (
            c.threads > 1
                && m * o.c * g.kernel.0 * g.kernel.1
                    >= depthwise_conv2d::PARALLEL_MIN_MACS_DEPTHWISE,
            "split over threads",
        ),
    ] {
        if on {
            tally.add(what);
        }
    }
}

/// Whether the SIMD paths store `c`'s sums linear and apply its
/// activations to each finished row (`depthwise_conv2d`'s `Ctx::after`):
/// depth multiplier 1, no residual or in-place add, and an activation
/// registers do not take (swish, hard silu, ...), or two.
fn activation_after_stores(c: &ConvCase) -> bool {
    let (g, epi) = (&c.g, &c.epi);
    let register =
        |a: &Activation| matches!(a, Activation::Linear | Activation::Relu | Activation::Relu6);
    g.output.c == g.input.c
        && epi.residuals == 0
        && !epi.accumulate
        && (!register(&g.activation)
            || !register(&epi.post)
            || (g.activation != Activation::Linear && epi.post != Activation::Linear))
}

/// Whether the AVX2 path runs some of `c`'s pixels through its 3x3 register
/// sweep (`depthwise_conv2d`'s `sweep3x3`): 3x3, depth multiplier 1, no
/// dilation or upsample, stride 1 or 2 along W, at least 8 channels, no
/// residual or in-place add (a concat slot allowed; activations other than
/// linear, relu and relu6 follow the stores), and some output pixel whose
/// window lies inside the input.
fn sweeps_3x3(c: &ConvCase) -> bool {
    let (g, epi) = (&c.g, &c.epi);
    let (i, o) = (g.input, g.output);
    let inside = |out: usize, s: usize, pad: usize, len: usize| {
        (0..out).any(|p| p * s >= pad && p * s + 2 - pad < len)
    };
    g.kernel == (3, 3)
        && o.c == i.c
        && g.dilation == (1, 1)
        && g.upsample == (1, 1)
        && matches!(g.strides.1, 1 | 2)
        && i.c >= 8
        && epi.residuals == 0
        && !epi.accumulate
        && inside(o.h, g.strides.0, g.pad.0, i.h)
        && inside(o.w, g.strides.1, g.pad.1, i.w)
}

/// The depthwise kernel's 3x3 register sweeps, AVX2's and AVX-512's
/// (MobileNet's layers; AVX-512's on maps at least 14 wide, with the channel
/// tail in a masked vector):
/// every case a 3x3 depthwise conv with depth multiplier 1 and no residual,
/// mostly a register epilogue (the layer's activation or a post
/// activation), else any activations (applied after the stores), strides 1..=3 x 1..=2, same/valid with extra leading pads (the
/// folded `zero_padding2d`s), channels 8..=300, concat
/// slots, split over threads (partial rows); the borders run the tiles.
/// Channels 8..=300 leave every tail of 1..=7 (AVX2) and 1..=15 (AVX-512).
#[test]
fn depthwise_3x3_sweep_matches_f64_reference() {
    let isas = isas_under_test("depthwise_3x3_sweep_matches_f64_reference");
    let shapes = (
        prop_oneof![
            2 => 8..=64usize,
            1 => 65..=300usize,
            1 => prop::sample::select(vec![8usize, 9, 15, 16, 17, 32, 40, 96, 144]),
        ],
        (1..=3usize, 1..=2usize),
        any::<bool>(),
        prop_oneof![3 => (1..=40usize, 1..=40usize), 1 => (1..=128usize, 1..=128usize)],
        ((0..4usize, 0..4usize), leads()),
        prop_oneof![
            3 => prop::sample::select(vec![
                Activation::Linear,
                Activation::Relu,
                Activation::Relu6,
            ]),
            1 => activation(),
        ],
    )
        .prop_map(|(cin, strides, same, out, (slack, lead), act)| Shape {
            kernel: (3, 3),
            cin,
            filters: cin,
            groups: 1,
            depthwise: Some(1),
            strides,
            dilation: (1, 1),
            upsample: (1, 1),
            same,
            out,
            slack,
            lead,
            act,
        });
    // A fused activation layer (MobileNetV2's `relu6`) comes as the post
    // activation of a linear conv.
    let posts = vec![Activation::Linear, Activation::Relu, Activation::Relu6];
    let epi = (
        any::<bool>(),
        prop::option::of((0..=5usize, 0..=5usize)),
        prop_oneof![3 => prop::sample::select(posts), 1 => activation()],
    )
        .prop_map(|(bias, slot, post)| Epilogue {
            bias,
            residuals: 0,
            accumulate: false,
            slot,
            post,
        });
    let cases =
        (shapes, epi, threads(), any::<u64>()).prop_map(|(s, epi, threads, seed)| ConvCase {
            g: build(s, 0, MACS),
            epi,
            threads,
            seed,
        });
    check(
        "depthwise_3x3_sweep_matches_f64_reference",
        256,
        cases,
        |c, t| check_conv(c, &isas, Path::DepthwiseKernel, t),
    );
}

/// The dedicated depthwise kernel (`ops::depthwise_conv2d`, what the macro
/// generates for `depthwise_conv2d` and the depthwise half of
/// `separable_conv2d`): channels 1..=300 (SIMD tile boundaries drawn often),
/// depth multipliers 1..=4, kernels 1..=7 and long thin ones, strides
/// 1..=3, dilation, upsample, same/valid, every activation and epilogue.
#[test]
fn depthwise_kernel_matches_f64_reference() {
    let isas = isas_under_test("depthwise_kernel_matches_f64_reference");
    let shapes = (
        prop_oneof![
            4 => (1..=7usize, 1..=7usize),
            1 => prop::sample::select(vec![(1usize, 31usize), (31, 1), (3, 15), (2, 31)]),
        ],
        prop_oneof![
            2 => 1..=16usize,
            2 => 17..=300usize,
            1 => prop::sample::select(vec![7usize, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 96, 144]),
        ],
        prop_oneof![2 => Just(1usize), 1 => 2..=4usize],
        prop_oneof![Just((1usize, 1usize)), Just((2, 2)), (1..=3usize, 1..=3usize)],
        dilations(),
        upsamples(),
        any::<bool>(),
        prop_oneof![3 => (1..=40usize, 1..=40usize), 1 => (1..=128usize, 1..=128usize)],
        ((0..4usize, 0..4usize), leads()),
        activation(),
    )
        .prop_map(
            |(kernel, cin, dm, strides, dilation, upsample, same, out, (slack, lead), act)| Shape {
                kernel,
                cin,
                filters: cin * dm,
                groups: 1,
                depthwise: Some(dm),
                strides,
                dilation,
                upsample,
                same,
                out,
                slack,
                lead,
                act,
            },
        );
    let cases =
        (shapes, epilogue(), threads(), any::<u64>()).prop_map(|(s, epi, threads, seed)| {
            ConvCase {
                g: build(s, 0, MACS),
                epi,
                threads,
                seed,
            }
        });
    check(
        "depthwise_kernel_matches_f64_reference",
        256,
        cases,
        |c, t| check_conv(c, &isas, Path::DepthwiseKernel, t),
    );
}

// ---------------------------------------------------------------------------
// Transposed conv, dense, pooling
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct TransposeCase {
    g: Conv2dTransposeGeom,
    bias: bool,
    seed: u64,
}

/// Keras `Conv2DTranspose` (kernel `[kh, kw, filters, in]`) with the macro's
/// geometry (`same`: out = in * s, pad = (k - s) / 2; `valid`: out = in * s
/// + max(k - s, 0), no pad), against the f64 scatter loop.
#[test]
fn conv_transpose_matches_f64_reference() {
    let cases = (
        prop_oneof![3 => (1..=5usize, 1..=5usize), 1 => (1..=16usize, 1..=16usize)],
        (1..=4usize, 1..=4usize),
        any::<bool>(),
        (1..=16usize, 1..=16usize),
        prop_oneof![1..=8usize, 9..=256usize],
        1..=48usize,
        activation(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(kernel, strides, same, (ih, iw), cin, filters, act, bias, seed)| {
                let cin = cin.min((MACS / (kernel.0 * kernel.1 * filters)).max(1));
                let axis = |i: usize, k: usize, s: usize| {
                    if same {
                        (i * s, k.saturating_sub(s) / 2)
                    } else {
                        (i * s + k.saturating_sub(s), 0)
                    }
                };
                // At most MACS multiply-adds: shrink the input map.
                let (mut ih, mut iw) = (ih, iw);
                while ih * iw * kernel.0 * kernel.1 * filters * cin > MACS && ih * iw > 1 {
                    if ih >= iw {
                        ih = ih.div_ceil(2)
                    } else {
                        iw = iw.div_ceil(2)
                    }
                }
                let (oh, ph) = axis(ih, kernel.0, strides.0);
                let (ow, pw) = axis(iw, kernel.1, strides.1);
                TransposeCase {
                    g: Conv2dTransposeGeom {
                        input: Hwc {
                            h: ih,
                            w: iw,
                            c: cin,
                        },
                        output: Hwc {
                            h: oh,
                            w: ow,
                            c: filters,
                        },
                        kernel,
                        strides,
                        pad: (ph, pw),
                        activation: act,
                    },
                    bias,
                    seed,
                }
            },
        );
    check(
        "conv_transpose_matches_f64_reference",
        256,
        cases,
        |c, _| {
            let (g, i, o) = (&c.g, c.g.input, c.g.output);
            let x = values(i.len(), c.seed);
            let kernel = values(g.kernel.0 * g.kernel.1 * o.c * i.c, c.seed ^ 1);
            let bias = c.bias.then(|| values(o.c, c.seed ^ 2));
            let mut sum = vec![0.0f64; o.len()];
            let mut mag = vec![0.0f64; o.len()];
            if let Some(b) = &bias {
                for p in 0..o.h * o.w {
                    for f in 0..o.c {
                        sum[p * o.c + f] = f64::from(b[f]);
                        mag[p * o.c + f] = f64::from(b[f]).abs();
                    }
                }
            }
            for iy in 0..i.h {
                for ix in 0..i.w {
                    for ky in 0..g.kernel.0 {
                        let oy = (iy * g.strides.0 + ky) as isize - g.pad.0 as isize;
                        if oy < 0 || oy as usize >= o.h {
                            continue;
                        }
                        for kx in 0..g.kernel.1 {
                            let ox = (ix * g.strides.1 + kx) as isize - g.pad.1 as isize;
                            if ox < 0 || ox as usize >= o.w {
                                continue;
                            }
                            let op = (oy as usize * o.w + ox as usize) * o.c;
                            for f in 0..o.c {
                                for ci in 0..i.c {
                                    let t = f64::from(x[(iy * i.w + ix) * i.c + ci])
                                        * f64::from(
                                            kernel[((ky * g.kernel.1 + kx) * o.c + f) * i.c + ci],
                                        );
                                    sum[op + f] += t;
                                    mag[op + f] += t.abs();
                                }
                            }
                        }
                    }
                }
            }
            let want: Vec<f64> = sum.iter().map(|&s| act64(g.activation, s)).collect();
            let tol: Vec<f64> = mag
                .iter()
                .map(|&m| lipschitz(g.activation) * REL * m + ABS)
                .collect();
            let mut got = vec![f32::NAN; o.len()];
            conv2d_transpose(g, &x, &kernel, bias.as_deref(), &mut got);
            compare("conv2d_transpose", &got, &want, &tol)
        },
    );
}

/// Keras `Dense` on `rows` rows of `features` values (features up to 4096,
/// units up to 1,200), on every ISA, split over 1..=4 threads with `parallel`
/// (by units for one row, by rows for several).
#[test]
fn dense_matches_f64_reference() {
    let isas = isas_under_test("dense_matches_f64_reference");
    let cases = (
        prop_oneof![1..=64usize, 65..=4096usize],
        prop_oneof![1..=40usize, 41..=300usize, 301..=1200usize],
        prop_oneof![3 => Just(1usize), 1 => 1..=4usize],
        activation(),
        any::<bool>(),
        threads(),
        any::<u64>(),
    )
        .prop_map(|(features, units, rows, act, bias, threads, seed)| {
            let units = units.min((MACS / (features * rows)).max(1));
            (features, units, rows, act, bias, threads, seed)
        });
    check(
        "dense_matches_f64_reference",
        256,
        cases,
        |&(features, units, rows, act, bias, threads, seed), tally| {
            let x = values(rows * features, seed);
            let kernel = values(features * units, seed ^ 1);
            let bias = bias.then(|| values(units, seed ^ 2));
            let mut want = vec![0.0f64; rows * units];
            let mut tol = vec![0.0f64; rows * units];
            for r in 0..rows {
                for u in 0..units {
                    let (mut s, mut m) = match &bias {
                        Some(b) => (f64::from(b[u]), f64::from(b[u]).abs()),
                        None => (0.0, 0.0),
                    };
                    for i in 0..features {
                        let t = f64::from(x[r * features + i]) * f64::from(kernel[i * units + u]);
                        s += t;
                        m += t.abs();
                    }
                    want[r * units + u] = act64(act, s);
                    tol[r * units + u] = lipschitz(act) * REL * m + ABS;
                }
            }
            tally.add(if rows == 1 { "one row" } else { "several rows" });
            if features * units * rows >= igemm::PARALLEL_MIN_MACS && threads > 1 {
                tally.add("split over threads");
            }
            for &isa in &isas {
                let mut got = vec![f32::NAN; rows * units];
                with_exec(threads, |exec| {
                    exec.set_isa(isa).expect("an ISA under test is available");
                    dense_on(
                        exec,
                        features,
                        units,
                        act,
                        &x,
                        &kernel,
                        bias.as_deref(),
                        &mut got,
                    )
                });
                compare(&format!("dense on {isa:?}"), &got, &want, &tol)?;
            }
            // The serial entry point is the same computation.
            let mut got = vec![f32::NAN; rows * units];
            dense(features, units, act, &x, &kernel, bias.as_deref(), &mut got);
            compare("dense", &got, &want, &tol)
        },
    );
}

#[derive(Clone, Copy, Debug)]
struct PoolCase {
    g: Pool2dGeom,
    threads: usize,
    seed: u64,
}

/// Max and average pooling (padding cells never win and are not counted),
/// TF `same`/`valid` geometry, split over 1..=4 threads with `parallel`.
#[test]
fn pooling_matches_f64_reference() {
    let cases = (
        prop_oneof![3 => (1..=4usize, 1..=4usize), 1 => (1..=12usize, 1..=12usize)],
        strides(),
        any::<bool>(),
        (1..=64usize, 1..=64usize),
        (0..4usize, 0..4usize),
        prop_oneof![1..=16usize, 17..=200usize],
        threads(),
        any::<u64>(),
    )
        .prop_map(|(pool, strides, same, (oh, ow), slack, c, threads, seed)| {
            let (mut oh, mut ow) = (oh, ow);
            // At most 2^21 window reads (some cases are big enough to split).
            while oh * ow * c * pool.0 * pool.1 > 1 << 21 && oh * ow > 1 {
                if oh >= ow {
                    oh = oh.div_ceil(2)
                } else {
                    ow = ow.div_ceil(2)
                }
            }
            let ih = axis_in(oh, pool.0, strides.0, 1, 1, same, slack.0);
            let iw = axis_in(ow, pool.1, strides.1, 1, 1, same, slack.1);
            let (oh, ph) = axis_out(ih, pool.0, strides.0, 1, same);
            let (ow, pw) = axis_out(iw, pool.1, strides.1, 1, same);
            PoolCase {
                g: Pool2dGeom {
                    input: Hwc { h: ih, w: iw, c },
                    output: Hwc { h: oh, w: ow, c },
                    pool,
                    strides,
                    pad: (ph, pw),
                },
                threads,
                seed,
            }
        });
    let isas = isas_under_test("pooling_matches_f64_reference (max_pool2d)");
    check("pooling_matches_f64_reference", 256, cases, |c, t| {
        let (g, i, o) = (&c.g, c.g.input, c.g.output);
        t.add("cases");
        if c.threads > 1 && o.len() * g.pool.0 * g.pool.1 >= 1 << 18 {
            t.add("split over threads");
        }
        let x = values(i.len(), c.seed);
        let mut max = vec![f64::NEG_INFINITY; o.len()];
        let mut avg = vec![0.0f64; o.len()];
        let mut tol = vec![0.0f64; o.len()];
        for oy in 0..o.h {
            for ox in 0..o.w {
                for ch in 0..o.c {
                    let (mut cells, mut s, mut m) = (0usize, 0.0f64, 0.0f64);
                    let e = (oy * o.w + ox) * o.c + ch;
                    for ky in 0..g.pool.0 {
                        let iy = (oy * g.strides.0 + ky) as isize - g.pad.0 as isize;
                        for kx in 0..g.pool.1 {
                            let ix = (ox * g.strides.1 + kx) as isize - g.pad.1 as isize;
                            if iy < 0 || ix < 0 || iy as usize >= i.h || ix as usize >= i.w {
                                continue;
                            }
                            let v = f64::from(x[(iy as usize * i.w + ix as usize) * i.c + ch]);
                            cells += 1;
                            s += v;
                            m += v.abs();
                            max[e] = max[e].max(v);
                        }
                    }
                    prop_assert!(cells > 0, "a window with no input cell");
                    avg[e] = s / cells as f64;
                    tol[e] = REL * m / cells as f64 + ABS;
                }
            }
        }
        for &isa in &isas {
            let mut got = vec![f32::NAN; o.len()];
            with_exec(c.threads, |exec| {
                exec.set_isa(isa).unwrap();
                max_pool2d_on(exec, g, &x, &mut got)
            });
            // Max pooling picks one of the inputs: exact.
            compare(
                &format!("max_pool2d {isa:?}"),
                &got,
                &max,
                &vec![0.0; o.len()],
            )?;
        }
        let mut got = vec![f32::NAN; o.len()];
        with_exec(c.threads, |exec| avg_pool2d_on(exec, g, &x, &mut got));
        compare("avg_pool2d", &got, &avg, &tol)
    });
}

/// Global average and max pooling over maps up to 96 x 96.
#[test]
fn global_pooling_matches_f64_reference() {
    let cases = (
        (1..=96usize, 1..=96usize),
        prop_oneof![1..=16usize, 17..=300usize],
        any::<u64>(),
    );
    check(
        "global_pooling_matches_f64_reference",
        256,
        cases,
        |&((h, w), c, seed), _| {
            let input = Hwc { h, w, c };
            let x = values(input.len(), seed);
            let mut max = vec![f64::NEG_INFINITY; c];
            let mut sum = vec![0.0f64; c];
            let mut mag = vec![0.0f64; c];
            for p in 0..h * w {
                for ch in 0..c {
                    let v = f64::from(x[p * c + ch]);
                    max[ch] = max[ch].max(v);
                    sum[ch] += v;
                    mag[ch] += v.abs();
                }
            }
            let n = (h * w) as f64;
            let avg: Vec<f64> = sum.iter().map(|s| s / n).collect();
            let tol: Vec<f64> = mag.iter().map(|m| REL * m / n + ABS).collect();
            let mut got = vec![f32::NAN; c];
            global_max_pool2d(input, &x, &mut got);
            compare("global_max_pool2d", &got, &max, &vec![0.0; c])?;
            let mut got = vec![f32::NAN; c];
            global_avg_pool2d(input, &x, &mut got);
            compare("global_avg_pool2d", &got, &avg, &tol)
        },
    );
}

// ---------------------------------------------------------------------------
// Regressions: shrunk failures, named
// ---------------------------------------------------------------------------

/// Runs one conv case on every ISA, panicking on a mismatch.
fn regression(name: &str, c: ConvCase) {
    let isas = isas_under_test(name);
    if let Err(e) = check_conv(&c, &isas, Path::Igemm, &Tally::default()) {
        panic!("{name}: {e}\n{c:#?}");
    }
}

/// Row-merged units longer than `MAX_CIN` take two channel passes, and the
/// second once read the window from the unit's start instead of `c0` floats
/// in. First: the case it was found on, a (1, 64) kernel on a 3x70x40 input,
/// `same`, 8 filters (64 * 40 = 2560 floats a unit; AVX-512's blocking merges
/// this map, AVX2's does not). Second: the shrunk case the
/// `conv_row_merged_matches_f64_reference` property found with the bug put
/// back, a (1, 33) kernel on 1x34x63, `valid`, 11 filters (2079 floats).
#[test]
fn regression_row_merged_unit_longer_than_max_cin() {
    let shape = Shape {
        kernel: (1, 64),
        cin: 40,
        filters: 8,
        groups: 1,
        depthwise: None,
        strides: (1, 1),
        dilation: (1, 1),
        upsample: (1, 1),
        same: true,
        out: (3, 70),
        slack: (0, 0),
        lead: (0, 0),
        act: Activation::Linear,
    };
    let found = build(shape, 0, usize::MAX);
    assert_eq!(found.input, Hwc { h: 3, w: 70, c: 40 });
    assert_eq!(found.pad, (0, 31));
    let shrunk = build(
        Shape {
            kernel: (1, 33),
            cin: 63,
            filters: 11,
            same: false,
            out: (1, 2),
            ..shape
        },
        0,
        usize::MAX,
    );
    assert_eq!(shrunk.input, Hwc { h: 1, w: 34, c: 63 });
    assert_eq!(shrunk.output, Hwc { h: 1, w: 2, c: 11 });
    let epi = Epilogue {
        bias: true,
        residuals: 0,
        accumulate: false,
        slot: None,
        post: Activation::Linear,
    };
    for g in [found, shrunk] {
        for epi in [
            epi,
            Epilogue {
                residuals: 1,
                accumulate: true,
                slot: Some((3, 2)),
                ..epi
            },
        ] {
            regression(
                "regression_row_merged_unit_longer_than_max_cin",
                ConvCase {
                    g,
                    epi,
                    threads: 1,
                    seed: 40,
                },
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Winograd
// ---------------------------------------------------------------------------

/// Winograd's layers: stride-1 undilated ungrouped 3x3 convs with input
/// channels, filters and output sizes from the given strategies, any
/// activation, `same` or `valid`, a folded upsample sometimes.
fn winograd_shapes(
    cin: impl Strategy<Value = usize>,
    filters: impl Strategy<Value = usize>,
    out: impl Strategy<Value = (usize, usize)>,
) -> impl Strategy<Value = Shape> {
    (
        cin,
        filters,
        upsamples(),
        any::<bool>(),
        out,
        leads(),
        activation(),
    )
        .prop_map(|(cin, filters, upsample, same, out, lead, act)| Shape {
            kernel: (3, 3),
            cin,
            filters,
            groups: 1,
            depthwise: None,
            strides: (1, 1),
            dilation: (1, 1),
            upsample,
            same,
            out,
            slack: (0, 0),
            lead,
            act,
        })
}

/// Stride-1 undilated ungrouped 3x3 convs, any epilogue and layout, a folded
/// upsample sometimes, maps of odd sizes (partial output tiles), channel and
/// filter counts off the lane and tile widths, through both variants.
#[test]
fn winograd_matches_f64_reference() {
    let isas = isas_under_test("winograd_matches_f64_reference");
    let shapes = winograd_shapes(
        prop_oneof![
            1..=20usize,
            21..=300usize,
            prop::sample::select(vec![15usize, 16, 17, 128, 129])
        ],
        prop_oneof![1..=40usize, 41..=96usize],
        prop_oneof![3 => (1..=24usize, 1..=24usize), 1 => (1..=80usize, 1..=80usize)],
    );
    let cases = (conv_cases(shapes, threads(), 0, MACS), any::<bool>());
    check(
        "winograd_matches_f64_reference",
        256,
        cases,
        |(c, f4), t| {
            let tile = if *f4 {
                WinogradTile::F4
            } else {
                WinogradTile::F2
            };
            t.add(tile.name());
            check_conv(c, &isas, Path::Winograd(tile), t)
        },
    );
}

/// Winograd layers big enough to be split over 2..=4 threads, with maps
/// large enough for blocks of many register tiles (each task transforms its
/// own tiles) and small enough for split filter ranges: the f64 reference,
/// and one thread's result bit for bit.
#[cfg(feature = "parallel")]
#[test]
fn winograd_threads_match_f64_reference() {
    let isas = isas_under_test("winograd_threads_match_f64_reference");
    let shapes = winograd_shapes(
        prop_oneof![16..=64usize, 65..=160usize],
        prop_oneof![16..=40usize, 41..=96usize],
        (8..=72usize, 8..=72usize),
    );
    let cases = conv_cases(
        shapes,
        2..=4usize,
        igemm::PARALLEL_MIN_MACS,
        8 * igemm::PARALLEL_MIN_MACS,
    );
    check("winograd_threads_match_f64_reference", 48, cases, |c, t| {
        check_conv(c, &isas, Path::Winograd(WinogradTile::F4), t)
    });
}

/// The error of each algorithm on layers of the anchors' sizes, measured
/// against the f64 reference as `max |got - want| / mag` (with `mag`, the
/// sum of `|x * w|` and `|bias|` per output, as in the tolerance) and
/// printed; each must stay
/// under its tolerance's relative part, and F(4x4) under the bound its
/// interpolation points give (below). What it printed on an AMD EPYC with
/// AVX-512 (AVX2 the same, the portable kernel within 30%; inputs and
/// weights uniform in [-1, 1)), F(4x4) with its points 0, -1, 1, 1/2, -2
/// and, before, with ncnn's 0, ±1, ±2:
///
/// | layer (cin -> filters, map) | direct | F(2x2) | F(4x4) | F(4x4), 0, ±1, ±2 |
/// |---|---:|---:|---:|---:|
/// | 64 -> 64, 56x56 | 2.3e-7 | 0.9e-7 | 1.2e-6 | 2.4e-6 |
/// | 128 -> 128, 28x28 | 2.3e-7 | 0.9e-7 | 0.8e-6 | 2.7e-6 |
/// | 256 -> 256, 14x14 | 2.7e-7 | 1.1e-7 | 0.5e-6 | 1.4e-6 |
/// | 512 -> 512, 7x7 | 2.0e-7 | 0.9e-7 | 1.1e-6 | 1.2e-6 |
/// | 32 -> 32, 64x64 | 2.8e-7 | 1.1e-7 | 0.8e-6 | 2.5e-6 |
/// | 3 -> 32, 32x32 | 2.2e-7 | 2.0e-7 | 2.6e-6 | 3.6e-6 |
///
/// F(2x2) rounds less than the direct sum here (its products are summed
/// per position over `cin` terms, not `9 cin`); F(4x4) 2-12x more (its
/// transform constants reach 2.5 and 8), well inside Keras parity's 1e-4
/// on every fixture; the old points' 2-3x more put a 50-layer ResNet
/// (`tools/importer_roundtrip.py app_resnet50`) further from a float64 run
/// than 1.5x Keras's own float32 error.
#[test]
fn winograd_error_is_documented() {
    let isas = isas_under_test("winograd_error_is_documented");
    let layers = [
        (64, 64, 56),
        (128, 128, 28),
        (256, 256, 14),
        (512, 512, 7),
        (32, 32, 64),
        (3, 32, 32),
    ];
    for isa in isas {
        for &(cin, filters, side) in &layers {
            let g = Conv2dGeom {
                input: Hwc {
                    h: side,
                    w: side,
                    c: cin,
                },
                upsample: (1, 1),
                output: Hwc {
                    h: side,
                    w: side,
                    c: filters,
                },
                kernel: (3, 3),
                strides: (1, 1),
                dilation: (1, 1),
                pad: (1, 1),
                groups: 1,
                activation: Activation::Linear,
            };
            let x = values(g.input.len(), 11);
            let kernel = values(g.kernel_len(), 12);
            let (want, mag) = conv_ref(&g, &x, &kernel, None);
            let ratio = |got: &[f32]| {
                got.iter()
                    .zip(&want)
                    .zip(&mag)
                    .map(|((g, w), m)| (f64::from(*g) - w).abs() / m)
                    .fold(
                        0.0f64,
                        |a, b| if b.is_nan() { f64::INFINITY } else { a.max(b) },
                    )
            };
            let mut direct = vec![f32::NAN; g.output.len()];
            let mut packed = vec![0.0; packed_len(&g)];
            pack(&g, &kernel, &mut packed);
            let layout = OutLayout::plain(filters);
            with_exec(1, |exec| {
                conv_on(exec, isa, &g, &x, &packed, None, &mut direct, layout)
            });
            let mut row = vec![ratio(&direct)];
            for tile in [WinogradTile::F2, WinogradTile::F4] {
                let wg = WinogradGeom { conv: g, tile };
                let mut packed = vec![0.0; wg.packed_kernel_len()];
                winograd::pack_kernel(&wg, &kernel, &mut packed);
                let mut scratch = vec![f32::NAN; wg.scratch_len()];
                let mut got = vec![f32::NAN; g.output.len()];
                with_exec(1, |exec| {
                    winograd::conv_on(
                        exec,
                        isa,
                        &wg,
                        &x,
                        &packed,
                        None,
                        &mut got,
                        layout,
                        &mut scratch,
                    )
                });
                row.push(ratio(&got));
            }
            eprintln!(
                "{isa:?} {cin} -> {filters}, {side}x{side}: max |err| / mag: direct {:.2e}, F(2x2) {:.2e}, F(4x4) {:.2e}",
                row[0], row[1], row[2]
            );
            assert!(row[0] <= REL, "direct {:e}", row[0]);
            assert!(row[1] <= WINOGRAD_F2_REL, "F(2x2) {:e}", row[1]);
            assert!(row[2] <= WINOGRAD_F4_REL, "F(4x4) {:e}", row[2]);
            // The points' bound, with a margin: ncnn's points exceed it on
            // four of these layers (the table above).
            let f4_bound = if cin >= 32 { 1.6e-6 } else { 3.2e-6 };
            assert!(
                row[2] <= f4_bound,
                "F(4x4) {:e} above its points' bound {f4_bound:e}",
                row[2]
            );
        }
    }
}
