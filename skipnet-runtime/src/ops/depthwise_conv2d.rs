//! Depthwise convolution, Keras `DepthwiseConv2D` semantics, with its own
//! kernel (not the grouped implicit GEMM, which pads every one-filter group
//! to a 16-filter panel).
//!
//! The geometry is the grouped conv the macro makes of the layer
//! ([`Conv2dGeom`] with `groups == input.c` and `output.c = input.c *
//! depth_multiplier`), and the kernel stays in Keras' `[kh, kw, in,
//! depth_multiplier]` layout: tap `t`'s weights for output channel `o` are
//! `kernel[t * output.c + o]`, contiguous in `o`, and output channel `o`
//! reads input channel `o / depth_multiplier`.
//!
//! Channels run in SIMD lanes (channels-last: for each output pixel and tap,
//! `acc[c..c + L] += x[iy, ix, c..c + L] * w[ky, kx, c..c + L]`):
//!
//! - AVX-512 (`avx512`): tiles of 6 output pixels x 32 channels (12 `zmm`
//!   accumulators, 2 weight registers loaded once per tap for the 6 pixels);
//!   3x3 layers at least 14 wide sweep their inner pixels as AVX2 does
//!   (below) in `zmm`s of 16 channels, the channel tail a masked vector
//!   (`sweep3x3_zmm`), the borders staying on these tiles;
//! - AVX2 + FMA (`avx2`): tiles of 4 output pixels x 16 channels (8 `ymm`
//!   accumulators, 2 weight registers); 3x3 layers (stride 1 or 2 along W,
//!   a register epilogue) sweep each row's pixels whose window is inside the
//!   input with the nine weights of an 8-channel block in registers
//!   (`sweep3x3`), the border pixels staying on the tiles;
//! - portable ([`Isa::Scalar`], NEON, no_std without those features): per
//!   pixel, chunks of 64 channels in a stack buffer, plain loops the compiler
//!   vectorizes.
//!
//! The SIMD paths handle `depth_multiplier == 1` (every MobileNet-style
//! layer) and any stride, dilation, padding and folded upsample; their
//! channel tails (fewer than a tile's channels) run as one-vector blocks, then
//! the portable loop. `depth_multiplier > 1` runs the portable path on every
//! ISA. The epilogue (bias, activation, residuals, in-place add, post
//! activation, concat slot) is the one of [`OutLayout`], as for `conv2d`.

use super::conv2d::Conv2dGeom;
use super::tap;
use crate::exec::Exec;
use crate::igemm::{Isa, OutLayout, PARALLEL_MIN_MACS};
use crate::Activation;

/// Length of the kernel as [`pack_kernel`] stores it: Keras'
/// `kh * kw * in * depth_multiplier` (the layout is kept).
pub const fn packed_kernel_len(g: &Conv2dGeom) -> usize {
    g.kernel.0 * g.kernel.1 * g.output.c
}

/// Stores a Keras `[kh, kw, in, depth_multiplier]` kernel in the layout
/// [`depthwise_conv2d`] reads: the same one (a copy), so that weights can be
/// loaded through the same packing hook as `conv2d`'s.
pub fn pack_kernel(g: &Conv2dGeom, kernel: &[f32], packed: &mut [f32]) {
    assert_eq!(
        kernel.len(),
        packed_kernel_len(g),
        "depthwise_conv2d: kernel length"
    );
    assert_eq!(
        packed.len(),
        packed_kernel_len(g),
        "depthwise_conv2d: packed kernel length"
    );
    packed.copy_from_slice(kernel);
}

/// Whether `g` is a depthwise conv this kernel runs: one group per input
/// channel, a whole number of filters per group.
pub const fn is_depthwise(g: &Conv2dGeom) -> bool {
    g.input.c > 0 && g.groups == g.input.c && g.output.c > 0 && g.output.c.is_multiple_of(g.input.c)
}

/// `out = activation(depthwise(x, kernel) + bias)`, on `exec`'s ISA
/// ([`Exec::isa`]: the best this CPU has unless chosen), output pixels split
/// over `exec`'s threads.
///
/// Panics if a slice length differs from the geometry.
pub fn depthwise_conv2d(
    exec: &mut Exec,
    g: &Conv2dGeom,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let layout = OutLayout::plain(g.output.c);
    let isa = exec.isa();
    depthwise_conv2d_on(exec, isa, g, x, kernel, bias, out, layout)
}

/// `out = post(activation(depthwise(x, kernel) + bias) + residual[0] + ...)`.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_add(
    exec: &mut Exec,
    g: &Conv2dGeom,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    residual: &[&[f32]],
    post: Activation,
    out: &mut [f32],
) {
    let layout = OutLayout {
        residual,
        post,
        ..OutLayout::plain(g.output.c)
    };
    let isa = exec.isa();
    depthwise_conv2d_on(exec, isa, g, x, kernel, bias, out, layout)
}

/// As [`depthwise_conv2d_add`] with one more residual already in `out`:
/// `out = post(activation(depthwise(x, kernel) + bias) + out + residual[0] + ...)`.
/// Any activation is allowed (the kernel always makes one pass).
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_add_in_place(
    exec: &mut Exec,
    g: &Conv2dGeom,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    residual: &[&[f32]],
    post: Activation,
    out: &mut [f32],
) {
    let layout = OutLayout {
        residual,
        accumulate: true,
        post,
        ..OutLayout::plain(g.output.c)
    };
    let isa = exec.isa();
    depthwise_conv2d_on(exec, isa, g, x, kernel, bias, out, layout)
}

/// `activation(depthwise(x, kernel) + bias)` written into a concat's buffer:
/// output pixel `p`'s channels go to `out[p * stride + offset..][..output.c]`;
/// nothing else of `out` is touched.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_into(
    exec: &mut Exec,
    g: &Conv2dGeom,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    stride: usize,
    offset: usize,
    out: &mut [f32],
) {
    let layout = OutLayout {
        stride,
        offset,
        ..OutLayout::plain(g.output.c)
    };
    let isa = exec.isa();
    depthwise_conv2d_on(exec, isa, g, x, kernel, bias, out, layout)
}

/// The depthwise conv on `isa` (the portable path when this CPU cannot run
/// it), with output addressing and epilogue `layout`, output pixels split
/// over `exec`'s threads when the layer is big enough ([`pixels_per_task`]).
/// Every output element is computed the same way whatever the thread count.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_on(
    exec: &mut Exec,
    isa: Isa,
    g: &Conv2dGeom,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    layout: OutLayout<'_>,
) {
    let dm = validate(g, x, kernel, bias, out, &layout);
    let o = g.output;
    let m = o.h * o.w;
    if m == 0 {
        return;
    }
    let isa = if isa.available() { isa } else { Isa::Scalar };
    let (direct, after) = Direct::of(g, &layout);
    // Only `run_pixels`'s SIMD arm applies `after`; elsewhere `finish`
    // applies the whole epilogue.
    let simd = cfg!(target_arch = "x86_64") && matches!(isa, Isa::Avx512 | Isa::Avx2Fma) && dm == 1;
    let (direct, after) = match after {
        Some(_) if !simd => (None, None),
        _ => (direct, after),
    };
    let cx = Ctx {
        g,
        x,
        w: kernel,
        bias,
        layout,
        dm,
        direct,
        after,
        sweep: None,
    };
    let cx = Ctx {
        sweep: cx.sweep_layer(),
        ..cx
    };
    // `validate` bounds all of these products.
    let macs = m * o.c * g.kernel.0 * g.kernel.1;
    let threads = exec.threads();
    if threads == 1 || macs < PARALLEL_MIN_MACS_DEPTHWISE {
        return run_pixels(isa, &cx, 0, m, out);
    }
    let per_task = pixels_per_task(m, threads);
    exec.for_each_chunk(out, per_task * layout.stride, &|i, c| {
        let p0 = (i * per_task).min(m);
        run_pixels(isa, &cx, p0, (p0 + per_task).min(m), c)
    });
}

/// Multiply-adds below which a depthwise conv runs on the calling thread
/// alone. A depthwise multiply-add costs about four of a GEMM's (25-40
/// against 70-90 GFLOP/s, one input load per FMA), so the same time
/// threshold is a quarter of [`PARALLEL_MIN_MACS`]: MobileNetV2's 7x7 and
/// 14x14 layers (250-680 thousand) ran on one thread, 20-45% slower than in
/// a one-thread run.
pub const PARALLEL_MIN_MACS_DEPTHWISE: usize = PARALLEL_MIN_MACS / 4;

/// Output pixels per task for `m` pixels on `threads` threads: the task
/// size, among those that cut the map into about 4, 3, 2 or 1 tasks per
/// thread, whose busiest thread (tasks are claimed as threads come free)
/// gets the fewest pixels. Whole rows per task gave MobileNetV2's 7-, 14-
/// and 28-row maps 7 tasks on 2 threads: one thread did 4 of them.
fn pixels_per_task(m: usize, threads: usize) -> usize {
    let busiest = |per_task: usize| m.div_ceil(per_task).div_ceil(threads) * per_task;
    (1..=4)
        .rev()
        .map(|per_thread| m.div_ceil(per_thread * threads).max(1))
        .min_by_key(|&per_task| busiest(per_task))
        .unwrap_or(m)
}

/// Checks everything the kernels' pointer arithmetic relies on; returns the
/// depth multiplier.
fn validate(
    g: &Conv2dGeom,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    out: &[f32],
    layout: &OutLayout<'_>,
) -> usize {
    let (i, o) = (g.input, g.output);
    assert!(
        is_depthwise(g),
        "depthwise_conv2d: not a depthwise geometry (in {}, groups {}, out {})",
        i.c,
        g.groups,
        o.c
    );
    let dm = o.c / i.c;
    let (kh, kw) = g.kernel;
    assert!(
        kh > 0
            && kw > 0
            && g.strides.0 > 0
            && g.strides.1 > 0
            && g.dilation.0 > 0
            && g.dilation.1 > 0
            && g.upsample.0 > 0
            && g.upsample.1 > 0,
        "depthwise_conv2d: zero kernel, stride, dilation or upsample"
    );
    let in_len = i.h.checked_mul(i.w).and_then(|v| v.checked_mul(i.c));
    assert_eq!(in_len, Some(x.len()), "depthwise_conv2d: input length");
    let k_len = kh.checked_mul(kw).and_then(|v| v.checked_mul(o.c));
    assert_eq!(k_len, Some(kernel.len()), "depthwise_conv2d: kernel length");
    if let Some(b) = bias {
        assert_eq!(b.len(), o.c, "depthwise_conv2d: bias length");
    }
    // Tap coordinates (`o * s + k * d`, and the upsampled input extent) never overflow.
    let span = |out: usize, s: usize, k: usize, d: usize| {
        out.saturating_sub(1)
            .checked_mul(s)
            .zip((k - 1).checked_mul(d))
            .and_then(|(a, b)| a.checked_add(b))
            .is_some()
    };
    assert!(
        span(o.h, g.strides.0, kh, g.dilation.0)
            && span(o.w, g.strides.1, kw, g.dilation.1)
            && i.h.checked_mul(g.upsample.0).is_some()
            && i.w.checked_mul(g.upsample.1).is_some(),
        "depthwise_conv2d: geometry overflows"
    );
    let m = o.h.checked_mul(o.w);
    let o_len = m.and_then(|m| m.checked_mul(o.c));
    let (Some(m), Some(o_len)) = (m, o_len) else {
        panic!("depthwise_conv2d: output size overflows");
    };
    assert!(
        m.checked_mul(o.c)
            .and_then(|v| v.checked_mul(kh * kw))
            .is_some(),
        "depthwise_conv2d: multiply-adds overflow"
    );
    assert!(
        layout
            .offset
            .checked_add(o.c)
            .is_some_and(|end| end <= layout.stride),
        "depthwise_conv2d: output layout writes channels {}..{}+{} of pixels only {} apart",
        layout.offset,
        layout.offset,
        o.c,
        layout.stride
    );
    if m > 0 {
        let end = (m - 1)
            .checked_mul(layout.stride)
            .and_then(|v| v.checked_add(layout.offset + o.c));
        assert!(
            end.is_some_and(|end| end <= out.len()),
            "depthwise_conv2d: output of {m} pixels, {} floats apart, does not fit {} floats",
            layout.stride,
            out.len()
        );
        assert!(
            m.checked_mul(layout.stride).is_some(),
            "depthwise_conv2d: output size overflows"
        );
    }
    for r in layout.residual {
        assert_eq!(r.len(), o_len, "depthwise_conv2d: residual length");
    }
    dm
}

/// One call's operands, checked by [`validate`].
struct Ctx<'a> {
    g: &'a Conv2dGeom,
    x: &'a [f32],
    w: &'a [f32],
    bias: Option<&'a [f32]>,
    layout: OutLayout<'a>,
    dm: usize,
    /// `Some` when the SIMD paths may apply the epilogue in registers and
    /// store straight to the output.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    direct: Option<Direct>,
    /// `Some((activation, post))` when the SIMD path stores the sums
    /// linear (`direct` is `Direct::Linear`) and applies these to each
    /// row's finished pixels while they are in L1 ([`run_pixels`]): the
    /// activations registers do not take (swish, hard silu, ...), which
    /// then go through the fast paths (the 3x3 sweep) too, and wide ones
    /// (sigmoid, swish, gelu) in one out-of-line call per row instead of
    /// one per pixel and 32 channels. [`finish`] then leaves them out.
    after: Option<(Activation, Activation)>,
    /// The output columns `a..b` that [`sweep3x3::row`] (AVX2) or
    /// `sweep3x3_zmm::row` (AVX-512) computes in the rows it takes
    /// ([`Ctx::sweep_layer`]).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    sweep: Option<(usize, usize)>,
}

/// An epilogue the SIMD paths apply in registers: no residual, no in-place
/// add, and this activation (the layer's, or the post activation of a
/// linear layer); other activations follow the stores (`Ctx::after`).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[derive(Clone, Copy)]
enum Direct {
    Linear,
    Relu,
    Relu6,
}

impl Direct {
    /// The register epilogue of a layer, and what follows the stores
    /// ([`Ctx::after`]): `(None, None)` when a residual or in-place add
    /// comes between activation and post activation ([`finish`] applies
    /// them all).
    #[allow(clippy::type_complexity)]
    fn of(g: &Conv2dGeom, l: &OutLayout<'_>) -> (Option<Direct>, Option<(Activation, Activation)>) {
        if l.accumulate || !l.residual.is_empty() {
            return (None, None);
        }
        // With nothing added in between, the post activation follows the
        // activation directly: the generated code passes a fused `relu6`
        // layer (MobileNetV2's) as `post` of a linear depthwise conv.
        let act = match (g.activation, l.post) {
            (a, Activation::Linear) => Some(a),
            (Activation::Linear, p) => Some(p),
            _ => None,
        };
        match act {
            Some(Activation::Linear) => (Some(Direct::Linear), None),
            Some(Activation::Relu) => (Some(Direct::Relu), None),
            Some(Activation::Relu6) => (Some(Direct::Relu6), None),
            _ => (Some(Direct::Linear), Some((g.activation, l.post))),
        }
    }
}

impl Ctx<'_> {
    /// Whether every tap of output pixels `ox0..ox0 + n` of a row reads
    /// inside the input along W (no padding, no upsample): the tile then
    /// needs no per-tap checks.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline(always)]
    fn interior(&self, ox0: usize, n: usize) -> bool {
        let g = self.g;
        let first = ox0 * g.strides.1;
        let last = (ox0 + n - 1) * g.strides.1 + (g.kernel.1 - 1) * g.dilation.1;
        g.upsample.1 == 1 && first >= g.pad.1 && last - g.pad.1 < g.input.w
    }
}

impl Ctx<'_> {
    /// The output columns `a..b` whose three input columns are inside the
    /// input, if the layer is one [`sweep3x3::row`] takes: a 3x3, dilation
    /// 1, stride 1 or 2 along W, no-upsample depthwise conv (depth
    /// multiplier 1) with an epilogue applied in registers ([`Direct`]) and
    /// at least 8 channels.
    fn sweep_layer(&self) -> Option<(usize, usize)> {
        let g = self.g;
        let (i, o) = (g.input, g.output);
        if self.dm != 1
            || self.direct.is_none()
            || g.kernel != (3, 3)
            || g.dilation != (1, 1)
            || g.upsample != (1, 1)
            || !matches!(g.strides.1, 1 | 2)
            || i.c < 8
        {
            return None;
        }
        // `ox * sx >= pad` and `ox * sx + 2 - pad < i.w`.
        let sx = g.strides.1;
        let a = g.pad.1.div_ceil(sx);
        let b = ((i.w + g.pad.1).checked_sub(3)? / sx + 1).min(o.w);
        (a < b).then_some((a, b))
    }

    /// The columns `a..b` of output row `oy` that [`sweep3x3::row`]
    /// computes: [`Ctx::sweep_layer`]'s, if the row's three input rows are
    /// all inside the input.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn sweep_columns(&self, oy: usize) -> Option<(usize, usize)> {
        let g = self.g;
        let columns = self.sweep?;
        let iy0 = (oy * g.strides.0).checked_sub(g.pad.0)?;
        (iy0 + 2 < g.input.h).then_some(columns)
    }
}

/// Output pixels `p0..p1` (row-major, `p1 <= output.h * output.w`) into
/// `out`, which starts at pixel `p0` of the layout (a task's chunk, or the
/// whole buffer).
fn run_pixels(isa: Isa, cx: &Ctx<'_>, p0: usize, p1: usize, out: &mut [f32]) {
    let ow = cx.g.output.w;
    let mut p = p0;
    while p < p1 {
        // The part of row `oy` in the range: `ox0..ox1`.
        let (oy, ox0) = (p / ow, p % ow);
        let ox1 = ow.min(ox0 + (p1 - p));
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 | Isa::Avx2Fma if cx.dm == 1 => {
                // The pixels whose whole window is inside the input sweep
                // (`sweep3x3`, `sweep3x3_zmm`); the others, and every pixel
                // of layers it does not take, go through the tiles. With
                // AVX-512 the sweep takes the maps at least 14 wide, where it
                // beats the 6 x 32 `zmm` tiles (`cargo bench --bench conv --
                // "depthwise Avx512"`, Zen 4, `zmm` sweep with tiles at the
                // borders against tiles alone: 112x112x32 110 µs against 172,
                // 56x56x144 135 against 199, 28x28x192 44 against 63,
                // 14x14x576 38 against 47; at stride 2 112x112x96 108 against
                // 151, 56x56x144 45 against 61; but 7x7x960 22 against 20,
                // where the borders are most of the map).
                let sweeps = isa == Isa::Avx2Fma || cx.g.output.w >= 14;
                let (a, b) = match cx.sweep_columns(oy).filter(|_| sweeps) {
                    Some((a, b)) => (a.clamp(ox0, ox1), b.clamp(ox0, ox1)),
                    None => (ox1, ox1),
                };
                // SAFETY: `isa` is available on this CPU (checked by the
                // caller): AVX-512F (with the AVX2, FMA and F16C it implies)
                // for `sweep3x3_zmm`, AVX2 and FMA for `sweep3x3`; `cx` was
                // checked by `validate`, with `dm == 1`; `oy < output.h` and
                // `ox0 <= a <= b <= ox1 <= output.w` (`p < p1 <= output.h *
                // ow`); `sweep_columns` returned the columns of row `oy`
                // whose 3x3 window lies inside the input of a layer the
                // sweeps take.
                unsafe {
                    tiles(isa, cx, oy, ox0, a, out, p0);
                    if a < b {
                        if isa == Isa::Avx512 {
                            sweep3x3_zmm::row(cx, oy, a, b, out, p0);
                        } else {
                            sweep3x3::row(cx, oy, a, b, out, p0);
                        }
                    }
                    tiles(isa, cx, oy, b, ox1, out, p0);
                }
                if let Some((act, post)) = cx.after {
                    let (l, c) = (&cx.layout, cx.g.output.c);
                    let first = (oy * ow + ox0 - p0) * l.stride + l.offset;
                    let n = ox1 - ox0;
                    if l.stride == c {
                        let s = &mut out[first..first + n * c];
                        act.apply_inline(s);
                        post.apply_inline(s);
                    } else {
                        for q in 0..n {
                            let s = &mut out[first + q * l.stride..][..c];
                            act.apply_inline(s);
                            post.apply_inline(s);
                        }
                    }
                }
            }
            _ => {
                for ox in ox0..ox1 {
                    pixel_portable(cx, oy, ox, 0, cx.g.output.c, out, p0);
                }
            }
        }
        p += ox1 - ox0;
    }
}

/// Output pixels `ox0..ox1` of row `oy` on `isa`'s tiles (AVX-512's or
/// AVX2's).
///
/// # Safety
/// As the tiles' `row`: `isa` is available, `cx` passed `validate` with
/// `dm == 1`, `oy < output.h`, `ox1 <= output.w`.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn tiles(
    isa: Isa,
    cx: &Ctx<'_>,
    oy: usize,
    ox0: usize,
    ox1: usize,
    out: &mut [f32],
    p0: usize,
) {
    // SAFETY: the caller's contract.
    unsafe {
        match isa {
            Isa::Avx512 => avx512::row(cx, oy, ox0, ox1, out, p0),
            _ => avx2::row(cx, oy, ox0, ox1, out, p0),
        }
    }
}

/// Channels per chunk of the portable path.
const CHUNK: usize = 64;

/// Output channels `c_lo..c_hi` of pixel `(oy, ox)`, plain loops (any depth
/// multiplier, any geometry).
#[inline(always)]
fn pixel_portable(
    cx: &Ctx<'_>,
    oy: usize,
    ox: usize,
    c_lo: usize,
    c_hi: usize,
    out: &mut [f32],
    pix0: usize,
) {
    let g = cx.g;
    let (i, o) = (g.input, g.output);
    let (hu, wu) = (i.h * g.upsample.0, i.w * g.upsample.1);
    let mut c0 = c_lo;
    while c0 < c_hi {
        let n = CHUNK.min(c_hi - c0);
        let mut buf = [0.0f32; CHUNK];
        let acc = &mut buf[..n];
        if let Some(b) = cx.bias {
            acc.copy_from_slice(&b[c0..c0 + n]);
        }
        for ky in 0..g.kernel.0 {
            let Some(iy) = tap(oy, g.strides.0, ky, g.dilation.0, g.pad.0, hu) else {
                continue;
            };
            let row = iy / g.upsample.0 * i.w;
            for kx in 0..g.kernel.1 {
                let Some(ix) = tap(ox, g.strides.1, kx, g.dilation.1, g.pad.1, wu) else {
                    continue;
                };
                let xp = &cx.x[(row + ix / g.upsample.1) * i.c..][..i.c];
                let wp = &cx.w[(ky * g.kernel.1 + kx) * o.c + c0..][..n];
                if cx.dm == 1 {
                    for ((a, xv), wv) in acc.iter_mut().zip(&xp[c0..c0 + n]).zip(wp) {
                        *a += xv * wv;
                    }
                } else {
                    for (j, (a, wv)) in acc.iter_mut().zip(wp).enumerate() {
                        *a += xp[(c0 + j) / cx.dm] * wv;
                    }
                }
            }
        }
        finish(cx, oy * o.w + ox, c0, acc, out, pix0);
        c0 += n;
    }
}

/// The epilogue of output channels `c0..c0 + vals.len()` of pixel `pix`
/// (`vals`: the sums with the bias): activation, in-place add, residuals,
/// post activation; written to `out`, which starts at pixel `pix0`.
#[inline(always)]
fn finish(cx: &Ctx<'_>, pix: usize, c0: usize, vals: &mut [f32], out: &mut [f32], pix0: usize) {
    let l = &cx.layout;
    let oc = cx.g.output.c;
    let start = (pix - pix0) * l.stride + l.offset + c0;
    let row = &mut out[start..start + vals.len()];
    if cx.after.is_some() {
        // `run_pixels` applies both activations to the whole pixel.
        row.copy_from_slice(vals);
        return;
    }
    cx.g.activation.apply_inline(vals);
    if l.accumulate {
        for (r, v) in row.iter_mut().zip(vals.iter()) {
            *r += v;
        }
    } else {
        row.copy_from_slice(vals);
    }
    for r in l.residual {
        for (v, r) in row.iter_mut().zip(&r[pix * oc + c0..][..vals.len()]) {
            *v += r;
        }
    }
    l.post.apply_inline(row);
}

/// The SIMD driver for one ISA: `$lanes`-float vectors, tiles of `$p`
/// pixels x `$v` vectors of channels (depth multiplier 1 only).
#[cfg(target_arch = "x86_64")]
macro_rules! simd_kernel {
    (
        $feat:literal,
        $lanes:expr,
        $p:expr,
        $v:expr,
        $zero:ident,
        $set1:ident,
        $load:ident,
        $store:ident,
        $fma:ident,
        $max:ident,
        $min:ident
    ) => {
        use super::{finish, pixel_portable, tap, Ctx, Direct};
        use core::arch::x86_64::*;

        const L: usize = $lanes;
        const P: usize = $p;
        const V: usize = $v;
        /// Floats a block hands to the epilogue per pixel.
        const BUF: usize = V * L;

        /// Output pixels `ox0..ox1` of row `oy` into `out` (starting at
        /// pixel `pix0`).
        ///
        /// # Safety
        /// The CPU must support the module's features; `cx` must have
        /// passed `validate` and have depth multiplier 1; `oy < output.h`,
        /// `ox1 <= output.w`.
        #[target_feature(enable = $feat)]
        pub(super) unsafe fn row(
            cx: &Ctx<'_>,
            oy: usize,
            ox0: usize,
            ox1: usize,
            out: &mut [f32],
            pix0: usize,
        ) {
            let mut ox = ox0;
            while ox + P <= ox1 {
                // SAFETY: the caller's contract; `ox + P <= ox1`.
                unsafe { pixels::<P>(cx, oy, ox, out, pix0) };
                ox += P;
            }
            // The range's last `(ox1 - ox0) % P` pixels as tiles of 4, 2
            // and 1: one pixel at a time leaves one accumulator chain per
            // vector, latency-bound (4 of a 112-wide row's pixels, 4 of a
            // 28-wide row's 28). A 28x28x32 layer alone: 33 -> 37 GFLOP/s,
            // 14x14x576 26 -> 28, 112x112x32 31 -> 32.5 (a scratch harness,
            // minimum of ~1.5 s of calls, AVX-512).
            if ox + 4 <= ox1 {
                // SAFETY: as above, `ox + 4 <= ox1`.
                unsafe { pixels::<4>(cx, oy, ox, out, pix0) };
                ox += 4;
            }
            if ox + 2 <= ox1 {
                // SAFETY: as above, `ox + 2 <= ox1`.
                unsafe { pixels::<2>(cx, oy, ox, out, pix0) };
                ox += 2;
            }
            if ox < ox1 {
                // SAFETY: as above, `ox < ox1`.
                unsafe { pixels::<1>(cx, oy, ox, out, pix0) };
            }
        }

        /// All channels of output pixels `ox0..ox0 + NP` of row `oy`.
        ///
        /// # Safety
        /// As [`rows`], and `ox0 + NP <= output.w`, `oy < output.h`.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn pixels<const NP: usize>(
            cx: &Ctx<'_>,
            oy: usize,
            ox0: usize,
            out: &mut [f32],
            pix0: usize,
        ) {
            let c = cx.g.input.c;
            let interior = cx.interior(ox0, NP);
            let mut c0 = 0;
            while c0 + V * L <= c {
                // SAFETY: the caller's contract; `c0 + V * L <= c`.
                unsafe { block::<NP, V>(cx, oy, ox0, c0, interior, out, pix0) };
                c0 += V * L;
            }
            while c0 + L <= c {
                // SAFETY: as above, `c0 + L <= c`.
                unsafe { block::<NP, 1>(cx, oy, ox0, c0, interior, out, pix0) };
                c0 += L;
            }
            // A tail of 8 channels or more on AVX-512 (MobileNetV3's 72,
            // 120, 184 and 200) in one AVX2 vector, not per pixel on the
            // portable path: its 5x5 layers ran 1.4x slower.
            if L > 8 && c0 + 8 <= c {
                // SAFETY: this module's features include AVX2 and FMA (the
                // AVX2 module's); as above, `c0 + 8 <= c`.
                unsafe { super::avx2::block::<NP, 1>(cx, oy, ox0, c0, interior, out, pix0) };
                c0 += 8;
            }
            if c0 < c {
                for p in 0..NP {
                    pixel_portable(cx, oy, ox0 + p, c0, c, out, pix0);
                }
            }
        }

        /// Channels `c0..c0 + NV * L` of output pixels `ox0..ox0 + NP` of
        /// row `oy`: sums with the bias, then the epilogue (in registers for
        /// [`Direct`] layers, else [`finish`]), into `out` (starting at
        /// pixel `pix0`).
        ///
        /// # Safety
        /// As [`pixels`], and `c0 + NV * L <= input.c`; `interior` only if
        /// [`Ctx::interior`] says so for these pixels.
        #[target_feature(enable = $feat)]
        #[inline]
        pub(super) unsafe fn block<const NP: usize, const NV: usize>(
            cx: &Ctx<'_>,
            oy: usize,
            ox0: usize,
            c0: usize,
            interior: bool,
            out: &mut [f32],
            pix0: usize,
        ) {
            let g = cx.g;
            let i = g.input;
            let c = i.c;
            let (kh, kw) = g.kernel;
            let (sx, dx, px) = (g.strides.1, g.dilation.1, g.pad.1);
            let (hu, wu) = (i.h * g.upsample.0, i.w * g.upsample.1);
            let xp = cx.x.as_ptr();
            let wp = cx.w.as_ptr();
            let mut acc = [[$zero(); NV]; NP];
            if let Some(b) = cx.bias {
                for v in 0..NV {
                    // SAFETY: `c0 + (v + 1) * L <= c == b.len()` (validated).
                    let bv = unsafe { $load(b.as_ptr().add(c0 + v * L)) };
                    for a in acc.iter_mut() {
                        a[v] = bv;
                    }
                }
            }
            let (uy, ux) = g.upsample;
            // Floats from one pixel of the tile to the next.
            let pstep = sx * c;
            for ky in 0..kh {
                let Some(iy) = tap(oy, g.strides.0, ky, g.dilation.0, g.pad.0, hu) else {
                    continue;
                };
                let iy = if uy == 1 { iy } else { iy / uy };
                let row = iy * i.w;
                for kx in 0..kw {
                    let mut wv = [$zero(); NV];
                    let wt = (ky * kw + kx) * c + c0;
                    for (v, w) in wv.iter_mut().enumerate() {
                        // SAFETY: `(ky * kw + kx) * c + c0 + (v + 1) * L <=
                        // kh * kw * c == kernel.len()` (validated, `dm == 1`).
                        *w = unsafe { $load(wp.add(wt + v * L)) };
                    }
                    if interior {
                        // No underflow and `ix < i.w` for every pixel: `interior`.
                        let mut base = (row + ox0 * sx + kx * dx - px) * c + c0;
                        for a in acc.iter_mut() {
                            for v in 0..NV {
                                // SAFETY: `base` is `(iy * i.w + ix) * c + c0`
                                // with `iy < i.h` (from `tap`), `ix = ix0 + p *
                                // sx < i.w` (`interior`), and `c0 + (v + 1) * L
                                // <= c`: inside `x` (length `i.h * i.w * c`,
                                // validated).
                                a[v] = unsafe { $fma($load(xp.add(base + v * L)), wv[v], a[v]) };
                            }
                            base += pstep;
                        }
                    } else {
                        for (p, a) in acc.iter_mut().enumerate() {
                            let Some(ix) = tap(ox0 + p, sx, kx, dx, px, wu) else {
                                continue;
                            };
                            let ix = if ux == 1 { ix } else { ix / ux };
                            let base = (row + ix) * c + c0;
                            for v in 0..NV {
                                // SAFETY: `iy < i.h`, `ix < i.w` (`tap` bounds
                                // by the upsampled extent), `c0 + (v + 1) * L
                                // <= c`: inside `x`.
                                a[v] = unsafe { $fma($load(xp.add(base + v * L)), wv[v], a[v]) };
                            }
                        }
                    }
                }
            }
            let pix = oy * g.output.w + ox0;
            let l = &cx.layout;
            if let Some(direct) = cx.direct {
                let (zero, six) = ($zero(), $set1(6.0));
                for (p, a) in acc.iter_mut().enumerate() {
                    for a in a.iter_mut() {
                        // `max(0, a)` returns `a` when it is NaN or -0
                        // (the second operand), as `Activation::apply` does.
                        match direct {
                            Direct::Linear => {}
                            Direct::Relu => *a = $max(zero, *a),
                            Direct::Relu6 => *a = $min(six, $max(zero, *a)),
                        }
                    }
                    let start = (pix + p - pix0) * l.stride + l.offset + c0;
                    let row = &mut out[start..start + NV * L];
                    for (v, a) in a.iter().enumerate() {
                        // SAFETY: `row` holds `NV * L` floats.
                        unsafe { $store(row.as_mut_ptr().add(v * L), *a) };
                    }
                }
                return;
            }
            let mut t = [[0.0f32; BUF]; NP];
            for (t, a) in t.iter_mut().zip(&acc) {
                for v in 0..NV {
                    // SAFETY: `(v + 1) * L <= V * L == BUF` floats of `t`.
                    unsafe { $store(t.as_mut_ptr().add(v * L), a[v]) };
                }
            }
            for (p, t) in t.iter_mut().enumerate() {
                finish(cx, pix + p, c0, &mut t[..NV * L], out, pix0);
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    simd_kernel!(
        "avx2,fma",
        8,
        4,
        2,
        _mm256_setzero_ps,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_fmadd_ps,
        _mm256_max_ps,
        _mm256_min_ps
    );
}

/// The 3x3 depthwise convs' inner loop on AVX2 + FMA: for each 8-channel
/// block of a row, the nine weights and the bias stay in registers while the
/// row's output pixels are swept two at a time, each tap one FMA with its
/// input as the memory operand. The tiles of [`simd_kernel`] reload the
/// weights and recompute the taps' coordinates per tile and block, and ran
/// at 6.7 instructions per FMA (callgrind) and 19-21 GFLOP/s on every
/// MobileNetV2 layer, even one that fits L1; this loop takes about 2.
#[cfg(target_arch = "x86_64")]
mod sweep3x3 {
    use super::{pixel_portable, Ctx, Direct};
    use core::arch::x86_64::*;

    /// Floats per vector.
    const L: usize = 8;
    /// Output pixels per step: two chains of nine FMAs, and at stride 1 the
    /// second pixel's first two columns are the first's last two (the
    /// compiler loads them once). Four per step spilled weights: slower.
    const NP: usize = 2;

    /// Output pixels `a..b` of row `oy` into `out` (starting at pixel
    /// `pix0`).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `cx` must have passed `validate`;
    /// `a..b` must lie inside what [`Ctx::sweep_columns`] returned for `oy`
    /// (so every tap of these pixels is inside the input, the kernel is 3x3
    /// with dilation 1 and no upsample, and the stride along W is 1 or 2).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn row(
        cx: &Ctx<'_>,
        oy: usize,
        a: usize,
        b: usize,
        out: &mut [f32],
        pix0: usize,
    ) {
        // SAFETY: the caller's contract.
        match cx.g.strides.1 {
            1 => unsafe { sweep::<1>(cx, oy, a, b, out, pix0) },
            _ => unsafe { sweep::<2>(cx, oy, a, b, out, pix0) },
        }
    }

    /// As [`row`], with stride `S` along W.
    ///
    /// # Safety
    /// As [`row`], and `S == cx.g.strides.1`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sweep<const S: usize>(
        cx: &Ctx<'_>,
        oy: usize,
        a: usize,
        b: usize,
        out: &mut [f32],
        pix0: usize,
    ) {
        let g = cx.g;
        let i = g.input;
        let c = i.c;
        let l = &cx.layout;
        let direct = cx.direct.unwrap_or(Direct::Linear);
        // Row `oy`'s first input row and pixel `a`'s first input column
        // (`sweep_columns`: neither underflows).
        let iy0 = oy * g.strides.0 - g.pad.0;
        let ix0 = a * S - g.pad.1;
        let pix_a = oy * g.output.w + a;
        // The last output float written: `(pix_a + n - 1 - pix0) * stride +
        // offset + c <= out.len()` (`validate` checked the whole map's).
        let n = b - a;
        let o_first = (pix_a - pix0) * l.stride + l.offset;
        assert!(n > 0 && o_first + (n - 1) * l.stride + c <= out.len());
        let xp = cx.x.as_ptr();
        let wp = cx.w.as_ptr();
        let op = out.as_mut_ptr();
        let (zero, six) = (_mm256_setzero_ps(), _mm256_set1_ps(6.0));
        macro_rules! act {
            ($v:expr) => {{
                let v: __m256 = $v;
                match direct {
                    Direct::Linear => v,
                    Direct::Relu => _mm256_max_ps(zero, v),
                    Direct::Relu6 => _mm256_min_ps(six, _mm256_max_ps(zero, v)),
                }
            }};
        }
        let row_len = i.w * c;
        let mut c0 = 0;
        while c0 + L <= c {
            // SAFETY: `(t * c + c0) + L <= 9 * c == kernel.len()` and
            // `c0 + L <= c == bias.len()` (validated, `dm == 1`).
            let w: [__m256; 9] =
                core::array::from_fn(|t| unsafe { _mm256_loadu_ps(wp.add(t * c + c0)) });
            let bias = match cx.bias {
                // SAFETY: as above.
                Some(bs) => unsafe { _mm256_loadu_ps(bs.as_ptr().add(c0)) },
                None => zero,
            };
            // Input rows `iy0 + ky` at column `ix0`, channel `c0`; pixel `p`
            // of the sweep reads columns `ix0 + p * S + kx`.
            let base = (iy0 * i.w + ix0) * c + c0;
            let mut r = [base, base + row_len, base + 2 * row_len];
            let mut o = o_first + c0;
            let mut p = 0;
            // One pixel's sum: the nine taps from rows `r` shifted by `shift`
            // floats.
            // SAFETY (of each call below): `sweep_columns` puts every input
            // column `ix0 + p * S + kx` (`p < n`, `kx < 3`) and row
            // `iy0 + ky` inside the input, so `r[ky] + shift + kx * c + L <=
            // x.len()`.
            // A macro, not a closure (nor `array::from_fn`, nor `act` as one):
            // LLVM stopped inlining the closure
            // once the crate's epilogues grew (vectorized sigmoid, swish and
            // gelu), and a call per pixel with the weights in memory ran
            // MobileNetV3's 112x112x16 layer 3x slower.
            macro_rules! sum {
                ($r:expr, $shift:expr) => {{
                    let (r, shift): (&[usize; 3], usize) = ($r, $shift);
                    let mut acc = bias;
                    for (ky, &rk) in r.iter().enumerate() {
                        for kx in 0..3 {
                            let v = unsafe { _mm256_loadu_ps(xp.add(rk + shift + kx * c)) };
                            acc = _mm256_fmadd_ps(v, w[ky * 3 + kx], acc);
                        }
                    }
                    act!(acc)
                }};
            }
            while p + NP <= n {
                let mut s = [zero; NP];
                for (q, s) in s.iter_mut().enumerate() {
                    *s = sum!(&r, q * S * c);
                }
                for (q, s) in s.iter().enumerate() {
                    // SAFETY: `o + q * stride + L <= o_first + (n - 1) *
                    // stride + c <= out.len()` (`p + q < n`, `c0 + L <= c`).
                    unsafe { _mm256_storeu_ps(op.add(o + q * l.stride), *s) };
                }
                for rk in r.iter_mut() {
                    *rk += NP * S * c;
                }
                o += NP * l.stride;
                p += NP;
            }
            while p < n {
                let s0 = sum!(&r, 0);
                // SAFETY: as above, `p < n`.
                unsafe { _mm256_storeu_ps(op.add(o), s0) };
                for rk in r.iter_mut() {
                    *rk += S * c;
                }
                o += l.stride;
                p += 1;
            }
            c0 += L;
        }
        if c0 < c {
            for ox in a..b {
                pixel_portable(cx, oy, ox, c0, c, out, pix0);
            }
        }
    }
}

/// [`sweep3x3`] in `zmm`s, for AVX-512: 16 channels per vector, two pixels
/// per step, and the channel tail of every layer (MobileNetV3's 72, 120, 184,
/// 200) in a masked vector instead of the portable loop. Each pixel's nine
/// taps are summed in the same order as [`sweep3x3`] and the tiles, so the
/// floats are theirs, except in the last `c % 8` channels: the tiles leave
/// those to `pixel_portable`'s separate multiply and add, where this takes
/// fused multiply-adds (so a border pixel and an inner one of such a channel
/// may differ in the last bit; every pixel stays within the tests' bound,
/// and the split by columns does not depend on the thread count). The `ymm` sweep on AVX-512 machines was 16-20% slower
/// (Zen 4 splits a `zmm` op in two, but issues half the instructions); 4, 6
/// or 8 pixels per step were no faster than 2 (4 was 10-25% slower).
#[cfg(target_arch = "x86_64")]
mod sweep3x3_zmm {
    use super::{Ctx, Direct};
    use core::arch::x86_64::*;

    /// Floats per vector.
    const L: usize = 16;
    /// Output pixels per step, as [`super::sweep3x3`].
    const NP: usize = 2;

    /// Output pixels `a..b` of row `oy` into `out` (starting at pixel
    /// `pix0`), as [`super::sweep3x3::row`].
    ///
    /// # Safety
    /// The CPU must support AVX-512F (and what `avx512f` implies: AVX2, FMA,
    /// F16C); otherwise as [`super::sweep3x3::row`].
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub(super) unsafe fn row(
        cx: &Ctx<'_>,
        oy: usize,
        a: usize,
        b: usize,
        out: &mut [f32],
        pix0: usize,
    ) {
        // SAFETY: the caller's contract.
        match cx.g.strides.1 {
            1 => unsafe { sweep::<1>(cx, oy, a, b, out, pix0) },
            _ => unsafe { sweep::<2>(cx, oy, a, b, out, pix0) },
        }
    }

    /// As [`row`], with stride `S` along W.
    ///
    /// # Safety
    /// As [`row`], and `S == cx.g.strides.1`.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    #[inline]
    unsafe fn sweep<const S: usize>(
        cx: &Ctx<'_>,
        oy: usize,
        a: usize,
        b: usize,
        out: &mut [f32],
        pix0: usize,
    ) {
        let g = cx.g;
        let i = g.input;
        let c = i.c;
        let l = &cx.layout;
        let direct = cx.direct.unwrap_or(Direct::Linear);
        // As in `sweep3x3::sweep`: neither underflows (`sweep_columns`).
        let iy0 = oy * g.strides.0 - g.pad.0;
        let ix0 = a * S - g.pad.1;
        let pix_a = oy * g.output.w + a;
        let n = b - a;
        let o_first = (pix_a - pix0) * l.stride + l.offset;
        assert!(n > 0 && o_first + (n - 1) * l.stride + c <= out.len());
        let xp = cx.x.as_ptr();
        let wp = cx.w.as_ptr();
        let op = out.as_mut_ptr();
        let (zero, six) = (_mm512_setzero_ps(), _mm512_set1_ps(6.0));
        let row_len = i.w * c;
        let mut c0 = 0;
        while c0 < c {
            // The block's channels `c0..c0 + k`: the lanes of `m`. Masked
            // loads and stores touch only those lanes; masked-off lanes
            // never fault.
            let k = L.min(c - c0);
            let m = (u32::MAX >> (32 - k)) as __mmask16;
            // SAFETY: `t * c + c0 + k <= 9 * c == kernel.len()` and
            // `c0 + k <= c == bias.len()` (validated, `dm == 1`).
            let w: [__m512; 9] =
                core::array::from_fn(|t| unsafe { _mm512_maskz_loadu_ps(m, wp.add(t * c + c0)) });
            let bias = match cx.bias {
                // SAFETY: as above.
                Some(bs) => unsafe { _mm512_maskz_loadu_ps(m, bs.as_ptr().add(c0)) },
                None => zero,
            };
            let base = (iy0 * i.w + ix0) * c + c0;
            let mut r = [base, base + row_len, base + 2 * row_len];
            let mut o = o_first + c0;
            let mut p = 0;
            // One pixel's sum, as `sweep3x3`'s `sum!` (a macro for the same
            // reason). SAFETY (of each load): `sweep_columns` puts every
            // input column `ix0 + p * S + kx` (`p < n`, `kx < 3`) and row
            // `iy0 + ky` inside the input, so `r[ky] + shift + kx * c + k
            // <= x.len()`.
            macro_rules! sum {
                ($r:expr, $shift:expr) => {{
                    let (r, shift): (&[usize; 3], usize) = ($r, $shift);
                    let mut acc = bias;
                    for (ky, &rk) in r.iter().enumerate() {
                        for kx in 0..3 {
                            let v =
                                unsafe { _mm512_maskz_loadu_ps(m, xp.add(rk + shift + kx * c)) };
                            acc = _mm512_fmadd_ps(v, w[ky * 3 + kx], acc);
                        }
                    }
                    match direct {
                        Direct::Linear => acc,
                        Direct::Relu => _mm512_max_ps(zero, acc),
                        Direct::Relu6 => _mm512_min_ps(six, _mm512_max_ps(zero, acc)),
                    }
                }};
            }
            while p + NP <= n {
                let mut s = [zero; NP];
                for (q, s) in s.iter_mut().enumerate() {
                    *s = sum!(&r, q * S * c);
                }
                for (q, s) in s.iter().enumerate() {
                    // SAFETY: `o + q * stride + k <= o_first + (n - 1) *
                    // stride + c <= out.len()` (`p + q < n`, `c0 + k <= c`).
                    unsafe { _mm512_mask_storeu_ps(op.add(o + q * l.stride), m, *s) };
                }
                for rk in r.iter_mut() {
                    *rk += NP * S * c;
                }
                o += NP * l.stride;
                p += NP;
            }
            while p < n {
                let s0 = sum!(&r, 0);
                // SAFETY: as above, `p < n`.
                unsafe { _mm512_mask_storeu_ps(op.add(o), m, s0) };
                for rk in r.iter_mut() {
                    *rk += S * c;
                }
                o += l.stride;
                p += 1;
            }
            c0 += L;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    simd_kernel!(
        "avx512f,avx2,fma,f16c",
        16,
        6,
        2,
        _mm512_setzero_ps,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_fmadd_ps,
        _mm512_max_ps,
        _mm512_min_ps
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::max_abs_diff;
    use crate::ops::conv2d::conv2d_reference;
    use crate::ops::Hwc;
    use crate::testing::isas_under_test;
    use alloc::vec;
    use alloc::vec::Vec;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// A depthwise geometry, TF `same`/`valid` padding.
    #[allow(clippy::too_many_arguments)]
    fn geom(
        h: usize,
        w: usize,
        c: usize,
        dm: usize,
        k: (usize, usize),
        s: (usize, usize),
        d: (usize, usize),
        up: (usize, usize),
        same: bool,
        act: Activation,
    ) -> Conv2dGeom {
        let axis = |len: usize, k: usize, s: usize, d: usize| {
            let span = (k - 1) * d + 1;
            if same {
                let out = len.div_ceil(s);
                (out, ((out - 1) * s + span).saturating_sub(len) / 2)
            } else {
                ((len - span) / s + 1, 0)
            }
        };
        let (oh, ph) = axis(h * up.0, k.0, s.0, d.0);
        let (ow, pw) = axis(w * up.1, k.1, s.1, d.1);
        Conv2dGeom {
            input: Hwc { h, w, c },
            upsample: up,
            output: Hwc {
                h: oh,
                w: ow,
                c: c * dm,
            },
            kernel: k,
            strides: s,
            dilation: d,
            pad: (ph, pw),
            groups: c,
            activation: act,
        }
    }

    /// Every ISA against `conv2d_reference` (as a grouped conv), plain output.
    fn check(g: &Conv2dGeom, bias: bool, name: &str) {
        let x = values(g.input.len(), 1);
        let k = values(g.kernel_len(), 2);
        let b = bias.then(|| values(g.output.c, 3));
        let mut want = vec![0.0; g.output.len()];
        conv2d_reference(g, &x, &k, b.as_deref(), &mut want);
        let mut packed = vec![0.0; packed_kernel_len(g)];
        pack_kernel(g, &k, &mut packed);
        for isa in isas_under_test(name) {
            let mut got = vec![f32::NAN; g.output.len()];
            let layout = OutLayout::plain(g.output.c);
            depthwise_conv2d_on(
                &mut Exec::serial(),
                isa,
                g,
                &x,
                &packed,
                b.as_deref(),
                &mut got,
                layout,
            );
            let d = max_abs_diff(&got, &want);
            assert!(d <= 1e-5, "{isa:?} {g:?}: max diff {d}");
        }
    }

    #[test]
    fn tasks_balance_the_threads() {
        // The busiest thread's pixels when tasks are claimed as threads
        // come free.
        let busiest = |m: usize, t: usize, per: usize| m.div_ceil(per).div_ceil(t) * per;
        for t in 1..=4 {
            for m in 1..=400 {
                let per = pixels_per_task(m, t);
                assert!(per >= 1 && per <= m, "{m} pixels, {t} threads: {per}");
                // Never worse than whole tasks of a quarter of a thread's
                // share, the old rule's granularity.
                let quarter = m.div_ceil(4 * t);
                assert!(busiest(m, t, per) <= busiest(m, t, quarter), "{m}, {t}");
            }
        }
        // MobileNetV2's 7x7, 14x14 and 28x28 maps on 2 threads: an even
        // split (rows per task gave one thread 4 tasks of 7).
        assert_eq!(busiest(49, 2, pixels_per_task(49, 2)), 25);
        assert_eq!(busiest(196, 2, pixels_per_task(196, 2)), 98);
        assert_eq!(busiest(784, 2, pixels_per_task(784, 2)), 392);
    }

    /// Tasks that start and end inside rows (a 7x7 map on 2 and 3
    /// threads) compute what one thread does, bit for bit, on every ISA.
    #[cfg(feature = "parallel")]
    #[test]
    fn pixel_ranges_over_threads_match_one_thread() {
        for (hw, c, s) in [(7, 1152, 1), (14, 1200, 2), (9, 600, 1)] {
            let g = geom(
                hw,
                hw + 2,
                c,
                1,
                (3, 3),
                (s, s),
                (1, 1),
                (1, 1),
                true,
                Activation::Relu6,
            );
            let macs = g.output.len() * 9;
            assert!(
                macs >= PARALLEL_MIN_MACS_DEPTHWISE,
                "{g:?} runs on one thread"
            );
            let x = values(g.input.len(), 4);
            let k = values(g.kernel_len(), 5);
            let b = values(g.output.c, 6);
            let mut packed = vec![0.0; packed_kernel_len(&g)];
            pack_kernel(&g, &k, &mut packed);
            for isa in isas_under_test("depthwise::pixel_ranges_over_threads") {
                let run = |exec: &mut Exec| {
                    let mut out = vec![f32::NAN; g.output.len()];
                    let layout = OutLayout::plain(g.output.c);
                    depthwise_conv2d_on(exec, isa, &g, &x, &packed, Some(&b), &mut out, layout);
                    out
                };
                let one = run(&mut Exec::serial());
                assert!(
                    one.iter().all(|v| !v.is_nan()),
                    "{isa:?} {g:?}: unwritten output"
                );
                for threads in [2, 3] {
                    let many = run(&mut Exec::with_threads(threads));
                    let same = one
                        .iter()
                        .zip(&many)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{isa:?} {g:?}: {threads} threads differ from one");
                }
            }
        }
    }

    #[test]
    fn mobilenet_shapes_match_the_reference() {
        for (hw, c, s) in [(16, 96, 2), (12, 144, 1), (7, 960, 1), (9, 40, 2)] {
            let g = geom(
                hw,
                hw,
                c,
                1,
                (3, 3),
                (s, s),
                (1, 1),
                (1, 1),
                true,
                Activation::Relu6,
            );
            check(&g, true, "depthwise::mobilenet_shapes");
        }
    }

    #[test]
    fn odd_channels_kernels_and_multipliers_match_the_reference() {
        let acts = [
            Activation::Linear,
            Activation::Relu,
            Activation::Swish,
            Activation::Gelu,
        ];
        let mut n = 0;
        for c in [1, 3, 7, 8, 9, 17, 33, 63, 65, 100] {
            for dm in [1, 2, 3] {
                for (k, s, d, up, same) in [
                    ((3, 3), (1, 1), (1, 1), (1, 1), true),
                    ((5, 5), (2, 2), (1, 1), (1, 1), true),
                    ((1, 7), (1, 3), (1, 1), (1, 1), false),
                    ((3, 3), (1, 1), (2, 2), (1, 1), true),
                    ((3, 2), (1, 1), (1, 1), (2, 3), true),
                    ((1, 1), (1, 1), (1, 1), (1, 1), false),
                ] {
                    n += 1;
                    let g = geom(11, 13, c, dm, k, s, d, up, same, acts[n % acts.len()]);
                    check(&g, n % 2 == 0, "depthwise::odd_shapes");
                }
            }
        }
    }

    #[test]
    fn long_thin_kernel_matches_the_reference() {
        let g = geom(
            4,
            40,
            24,
            1,
            (1, 31),
            (1, 1),
            (1, 1),
            (1, 1),
            true,
            Activation::Tanh,
        );
        check(&g, true, "depthwise::long_thin");
    }

    /// Residuals, the in-place add, the post activation and a concat slot,
    /// on every ISA, against the reference plus a plain epilogue.
    #[test]
    fn epilogue_and_concat_slot() {
        let g = geom(
            9,
            10,
            40,
            1,
            (3, 3),
            (1, 1),
            (1, 1),
            (1, 1),
            true,
            Activation::Relu,
        );
        let (o, m) = (g.output, g.output.h * g.output.w);
        let x = values(g.input.len(), 4);
        let k = values(g.kernel_len(), 5);
        let b = values(o.c, 6);
        let r1 = values(o.len(), 7);
        let start = values(o.len(), 8);
        let mut conv = vec![0.0; o.len()];
        conv2d_reference(&g, &x, &k, Some(&b), &mut conv);
        let want: Vec<f32> = (0..o.len())
            .map(|e| (conv[e] + start[e] + r1[e]).clamp(0.0, 6.0))
            .collect();
        let (before, stride) = (3, o.c + 5);
        for isa in isas_under_test("depthwise::epilogue") {
            let mut out = vec![-7.0; m * stride];
            for p in 0..m {
                out[p * stride + before..][..o.c].copy_from_slice(&start[p * o.c..][..o.c]);
            }
            let layout = OutLayout {
                stride,
                offset: before,
                residual: &[&r1],
                accumulate: true,
                post: Activation::Relu6,
            };
            depthwise_conv2d_on(
                &mut Exec::serial(),
                isa,
                &g,
                &x,
                &k,
                Some(&b),
                &mut out,
                layout,
            );
            let mut got = Vec::new();
            for p in 0..m {
                let row = &out[p * stride..][..stride];
                assert!(row[..before]
                    .iter()
                    .chain(&row[before + o.c..])
                    .all(|&v| v == -7.0));
                got.extend_from_slice(&row[before..before + o.c]);
            }
            let d = max_abs_diff(&got, &want);
            assert!(d <= 1e-5, "{isa:?}: max diff {d}");
        }
    }

    /// NaN inputs give NaN outputs through the register epilogues (relu,
    /// relu6) as through `Activation::apply`, and the rest is bit for bit the
    /// reference's (one product per output).
    #[test]
    fn nan_passes_the_register_epilogue() {
        for act in [Activation::Linear, Activation::Relu, Activation::Relu6] {
            let g = geom(3, 9, 48, 1, (1, 1), (1, 1), (1, 1), (1, 1), false, act);
            let mut x = values(g.input.len(), 11);
            x[5] = f32::NAN;
            x[100] = f32::NAN;
            let k = values(g.kernel_len(), 12);
            let mut want = vec![0.0; g.output.len()];
            conv2d_reference(&g, &x, &k, None, &mut want);
            for isa in isas_under_test("depthwise::nan") {
                let mut got = vec![0.0; g.output.len()];
                let layout = OutLayout::plain(g.output.c);
                depthwise_conv2d_on(&mut Exec::serial(), isa, &g, &x, &k, None, &mut got, layout);
                for (a, b) in got.iter().zip(&want) {
                    assert!(
                        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                        "{isa:?} {act:?}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "depthwise_conv2d: kernel length")]
    fn wrong_kernel_length_panics() {
        let g = geom(
            4,
            4,
            8,
            1,
            (3, 3),
            (1, 1),
            (1, 1),
            (1, 1),
            true,
            Activation::Linear,
        );
        let mut out = vec![0.0; g.output.len()];
        depthwise_conv2d(
            &mut Exec::serial(),
            &g,
            &vec![0.0; g.input.len()],
            &[0.0; 5],
            None,
            &mut out,
        );
    }
}
