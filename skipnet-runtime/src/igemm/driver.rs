//! The one driver of the implicit GEMM, generic over the register tile
//! ([`Kernel`]) that each ISA file provides (matrixmultiply's `GemmKernel`
//! and `gemm_loop`). It is `#[inline(always)]` and instantiated inside each
//! ISA's `#[target_feature]` entry point, so the tile and the epilogue inline
//! into code compiled for that ISA.
//!
//! Loop order (why): output pixels are taken `MB` tiles at a time; for each
//! panel of filters the reduction is cut into chunks of about `KC` floats
//! (whole taps, or part of one tap's channels; chunks of one pass are equal
//! in size) and every tile of the block runs over a chunk before the next,
//! so the chunk's weights (`KC x NR` floats, 32 KiB at most) stay in L1
//! across the block and the whole packed kernel is streamed once per block
//! instead of once per tile (a 7x7x512 -> 512 layer's 9.4 MB of weights no
//! longer comes from L3 for every 6 pixels). The partial sums live in the
//! block's accumulators; bias, activation and residuals are applied once,
//! after the last chunk, so a layer writes each output once per pass
//! ([`super::single_pass`]).
//!
//! The steps, each a function below: [`Plan::new`] (what the geometry
//! implies, once per call), [`fill_window`] (row-merged mode's padded copy of
//! the block's input rows), [`point_tiles`] (each tile's per-tap input
//! pointers for one pass), and per panel of filters either [`whole_tiles`]
//! (the reduction in one chunk: straight to the epilogue) or
//! [`chunked_tiles`] then [`store_block`].

use super::epilogue::epilogue;
use super::{
    k_len, panels_per_group, ConvArgs, OutLayout, Part, MAX_CIN, MERGE_BELOW_CIN, PANEL,
    TAPS_PER_PASS, ZEROS,
};
use crate::geom::Conv2dGeom;
use crate::Activation;
use core::mem::MaybeUninit;

/// A register tile and its blocking, what an ISA file provides to [`drive`]:
/// the tile computes `MR` output pixels x `NR` filters (one panel of
/// [`PANEL`], or two); the driver takes `MB` tiles per block and keeps `WIN`
/// floats of stack for the row-merged mode (0 turns the mode off, as in the
/// portable kernel, whose stack may be a microcontroller's).
pub(crate) trait Kernel<const MR: usize, const NR: usize, const MB: usize, const WIN: usize> {
    /// Floats of the reduction per chunk: a chunk's `KC x NR` weights stay
    /// in L1 while every tile of a block runs over them.
    const KC: usize;

    /// Adds to `out` the `MR x NR` products of the taps in `srcs` (one row
    /// of `MR` pixel pointers per tap) with the packed weights at `b`:
    /// channels `c_off..c_off + cin` of each pixel pointer; tap `t`'s weight
    /// rows start `t * tap_stride` floats after `b`, a row is [`PANEL`]
    /// floats, and the second panel of a 32-wide tile is `panel_stride`
    /// floats after the first.
    ///
    /// # Safety
    /// The CPU supports the kernel's ISA; each `srcs` pointer is valid for
    /// `c_off + cin` reads; for every tap `t < srcs.len()`,
    /// `b + t * tap_stride` is valid for `cin * PANEL` reads, and so is
    /// `b + t * tap_stride + panel_stride` if `NR` is 32.
    unsafe fn tile(
        srcs: &[[*const f32; MR]],
        c_off: usize,
        cin: usize,
        b: *const f32,
        tap_stride: usize,
        panel_stride: usize,
        out: &mut [[f32; NR]; MR],
    );

    /// Whether the kernel has its own [`tile_clamped`](Self::tile_clamped)
    /// (the driver calls it only then).
    const CLAMPED: bool = false;

    /// The whole reduction of one tile from zero (as [`tile`](Self::tile)
    /// with `c_off` 0), then its epilogue while the sums are in registers:
    /// bias, the activation and the post-activation as clamps
    /// ([`Clamped`]), stored to `epi.out`. The default is portable code.
    ///
    /// # Safety
    /// As [`tile`](Self::tile); `epi.ncols <= NR`, `epi.rows <= MR`; for
    /// `r < epi.rows`, `epi.out[r]` valid for `epi.ncols` reads and writes
    /// that no other live reference covers, `epi.residual[r]` null or valid
    /// for `epi.ncols` reads; `epi.bias` null or valid for `epi.ncols`
    /// reads.
    #[inline(always)]
    unsafe fn tile_clamped(
        srcs: &[[*const f32; MR]],
        cin: usize,
        b: *const f32,
        tap_stride: usize,
        panel_stride: usize,
        epi: &Clamped<MR>,
    ) {
        let mut t = [[0.0f32; NR]; MR];
        // SAFETY: this function's contract.
        unsafe { Self::tile(srcs, 0, cin, b, tap_stride, panel_stride, &mut t) };
        for (t, &o) in t.iter().zip(&epi.out).take(epi.rows) {
            // SAFETY: `o` is valid for `ncols` writes (this function's contract).
            let row = unsafe { core::slice::from_raw_parts_mut(o, epi.ncols) };
            for (j, (r, &v)) in row.iter_mut().zip(t).enumerate() {
                // SAFETY: `bias` is null or valid for `ncols` reads.
                let v = v + if epi.bias.is_null() {
                    0.0
                } else {
                    unsafe { *epi.bias.add(j) }
                };
                *r = clamp(clamp(v, epi.act), epi.post);
            }
        }
    }
}

/// `x` limited to `lo..=hi`, NaN kept (Keras' relu and relu6 keep it), as
/// `maxps`/`minps` with the bound first compute it.
#[inline(always)]
pub(crate) fn clamp(x: f32, (lo, hi): (f32, f32)) -> f32 {
    let x = if x < lo { lo } else { x };
    if x > hi {
        hi
    } else {
        x
    }
}

/// An epilogue that a kernel applies in registers ([`Kernel::tile_clamped`]):
/// `out[r][..ncols] = post(act(sum + bias) [+ out[r]] [+ residual[r]])` for
/// rows `r < rows`, where `act` and `post` are clamps
/// ([`crate::Activation::clamp_bounds`]: linear, relu, relu6): the order of
/// [`super::epilogue::epilogue`]. The driver uses it for layers with at
/// most one residual.
pub(crate) struct Clamped<const MR: usize> {
    pub out: [*mut f32; MR],
    /// Per row, a residual of the row's shape added after the activation
    /// (null: none).
    pub residual: [*const f32; MR],
    /// The output row's old value is added after the activation (an
    /// in-place `add`), before the residual. (Read only by kernels that
    /// override `tile_clamped`; none does yet on AArch64.)
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub accumulate: bool,
    pub rows: usize,
    pub ncols: usize,
    /// Null for no bias.
    pub bias: *const f32,
    pub act: (f32, f32),
    pub post: (f32, f32),
}

impl<const MR: usize> Clamped<MR> {
    /// The one clamp the epilogue comes to when nothing is added between
    /// its two clamps (no in-place add, no residual) and their ranges meet:
    /// `post(act(v))` is then `v` clamped to the intersection (NaN passes
    /// both ways; `-inf..inf` when both are linear). MobileNetV2's 1x1 convs
    /// (linear, with a fused `relu6` as post) and EfficientNet's linear
    /// expands all come to one; with 16 input channels the general epilogue
    /// (three branches and two clamps per vector) was a third of the tile's
    /// instructions on AVX2 (callgrind) and a tenth of the layer's time on
    /// AVX-512 (doc/benchmarks.md, 2026-12-06).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline(always)]
    pub fn one_clamp(&self) -> Option<(f32, f32)> {
        let (lo, hi) = (self.act.0.max(self.post.0), self.act.1.min(self.post.1));
        let plain = !self.accumulate && self.residual.iter().all(|r| r.is_null());
        (plain && lo <= hi).then_some((lo, hi))
    }
}

/// `s` with every pointer advanced by `c` floats (`wrapping_add`: only the
/// reads the tile makes must be in bounds), for tiles to use at the top of
/// their reduction. A loop rather than `array::map`, whose closure, defined
/// inside a `#[target_feature]` function, LLVM did not inline (a call per
/// tap per tile under `perf`).
#[inline(always)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) fn offset_all<const M: usize>(s: &[*const f32; M], c: usize) -> [*const f32; M] {
    let mut r = *s;
    for p in r.iter_mut() {
        *p = p.wrapping_add(c);
    }
    r
}

/// Pixels per tile and tiles per block of the kernel `_k`: the unit in
/// which [`super::conv_on`] cuts pixel ranges between tasks.
pub(crate) const fn blocking<
    K: Kernel<MR, NR, MB, WIN>,
    const MR: usize,
    const NR: usize,
    const MB: usize,
    const WIN: usize,
>(
    _k: &K,
) -> (usize, usize) {
    (MR, MB)
}

/// What the driver derives from the geometry, once per call.
struct Plan {
    cin_g: usize,
    cout_g: usize,
    /// Floats from one filter panel to the next, and one group to the next.
    panel_stride: usize,
    group_stride: usize,
    /// The input as the conv sees it (a folded upsample enlarges it).
    h_up: usize,
    w_up: usize,
    upsampled: bool,
    /// Row-merged mode (few input channels): the block's input rows are
    /// copied, zero-padded, into a window, so the `kw` taps of one kernel
    /// row read `kw * cin` contiguous floats: one reduction unit per kernel
    /// row instead of one per tap (a 7x7 stem on RGB: 7 units of 21 instead
    /// of 49 of 3, and one pass instead of two). `wp`: the window's padded
    /// row width in pixels.
    merged: bool,
    wp: usize,
    /// A 1x1, stride-1, unpadded conv (MobileNet's expand and project
    /// layers): output pixel `p` reads input pixel `p`, with no division.
    pointwise: bool,
    /// Reduction units (taps, or kernel rows when merged) and their length.
    units: usize,
    unit_len: usize,
    /// The packed weights exceed [`STREAM_WEIGHTS_ABOVE`]: each block reads
    /// them from memory, so the next chunk is prefetched while one runs.
    stream_weights: bool,
}

/// Packed weights above this many bytes do not stay in a core's L2 (1 MiB
/// on Zen 4 and Skylake-SP, 1.25 MiB on Ice Lake) from one block to the
/// next. Below it the prefetches find the lines already there and only cost
/// issue slots: 8% of resnet_s1 (147 KB of weights); above it they save
/// 10% of resnet_s4 (9.4 MB), 3% of resnet_s3 (2.4 MB) with cold weights
/// (`cargo bench --bench conv_min -- resnet_s --cold`).
const STREAM_WEIGHTS_ABOVE: usize = 1 << 20;

impl Plan {
    /// The plan for blocks of `block_px` pixels and a merge window of `win` floats.
    fn new(g: &Conv2dGeom, block_px: usize, win: usize) -> Plan {
        let (inp, o) = (g.input, g.output);
        let cin_g = inp.c / g.groups;
        let panel_stride = k_len(g) * PANEL;
        let upsampled = g.upsample != (1, 1);
        let pad_r = ((o.w.max(1) - 1) * g.strides.1 + g.kernel.1).saturating_sub(g.pad.1 + inp.w);
        let wp = g.pad.1 + inp.w + pad_r;
        // Input rows one block can span (its output rows, strided, plus the kernel).
        let rows_max = o.h.min(block_px.div_ceil(o.w.max(1)) + 1).saturating_sub(1) * g.strides.0
            + (g.kernel.0 - 1) * g.dilation.0
            + 1;
        let merged = win > 0
            && g.groups == 1
            && g.dilation.1 == 1
            && !upsampled
            && g.kernel.1 > 1
            && inp.c < MERGE_BELOW_CIN
            && g.kernel.0 <= TAPS_PER_PASS
            && rows_max * wp * inp.c <= win;
        let pointwise = g.kernel == (1, 1)
            && g.strides == (1, 1)
            && g.pad == (0, 0)
            && !upsampled
            && (inp.h, inp.w) == (o.h, o.w);
        let (units, unit_len) = if merged {
            (g.kernel.0, g.kernel.1 * cin_g)
        } else {
            (g.kernel.0 * g.kernel.1, cin_g)
        };
        Plan {
            cin_g,
            cout_g: o.c / g.groups,
            panel_stride,
            group_stride: panels_per_group(g) * panel_stride,
            h_up: inp.h * g.upsample.0,
            w_up: inp.w * g.upsample.1,
            upsampled,
            merged,
            wp,
            pointwise,
            units,
            unit_len,
            stream_weights: g.groups * panels_per_group(g) * panel_stride * 4
                > STREAM_WEIGHTS_ABOVE,
        }
    }
}

/// A block of pixels in one group: pixels `m0..m0 + px` of the output
/// (tiles of `MR`), filters of group `grp`; `m_end` is the part's end.
#[derive(Clone, Copy)]
struct Block {
    m0: usize,
    px: usize,
    grp: usize,
    m_end: usize,
}

/// One pass over the reduction: units `t0..t0 + nt`, floats `c0..c0 + nc`
/// of each unit; `first` and `last` of the layer's passes.
#[derive(Clone, Copy)]
struct Pass {
    t0: usize,
    nt: usize,
    c0: usize,
    nc: usize,
    first: bool,
    last: bool,
}

/// Runs `part` of the conv in `a` on the kernel `K`.
///
/// # Safety
/// The CPU supports `K`'s ISA; the preconditions [`super::conv_on`] checks:
/// slice lengths match the geometry (`validate` passed), the output layout
/// stays inside the output, and no other task writes `part` of it.
#[inline(always)]
pub(crate) unsafe fn drive<
    K: Kernel<MR, NR, MB, WIN>,
    const MR: usize,
    const NR: usize,
    const MB: usize,
    const WIN: usize,
>(
    _k: K,
    a: &ConvArgs<'_>,
    part: Part,
) {
    // The activations no kernel applies in registers run over each
    // finished block instead (`AfterBlock`); the kernels then see a layer
    // with linear, relu or relu6 only, and keep the register epilogue.
    let after = AfterBlock::of(a.g, &a.layout);
    let g_in_kernel;
    let a_in_kernel;
    let a = match after {
        None => a,
        Some(after) => {
            g_in_kernel = Conv2dGeom {
                activation: after.kernel_activation,
                ..*a.g
            };
            a_in_kernel = ConvArgs {
                g: &g_in_kernel,
                layout: OutLayout {
                    post: Activation::Linear,
                    ..a.layout
                },
                ..*a
            };
            &a_in_kernel
        }
    };
    let g = a.g;
    let p = Plan::new(g, MR * MB, WIN);
    // Never zeroed as a whole: every block writes the rows it reads (a
    // 48 KiB memset per task cost a fifth of a parallel 64x64 conv).
    #[allow(clippy::zero_repeat_side_effects)]
    let mut window_store = [MaybeUninit::<f32>::uninit(); WIN];
    let mut srcs = [[[ZEROS.as_ptr(); MR]; TAPS_PER_PASS]; MB];
    let mut acc = [[[0.0f32; NR]; MR]; MB];
    let mut m0 = part.m.0;
    while m0 < part.m.1 {
        for grp in 0..g.groups {
            let blk = Block {
                m0,
                px: (MR * MB).min(part.m.1 - m0),
                grp,
                m_end: part.m.1,
            };
            let tiles = blk.px.div_ceil(MR);
            let window = if p.merged {
                fill_window(g, &p, a.x, blk, &mut window_store)
            } else {
                &[]
            };
            let mut t0 = 0;
            while t0 < p.units {
                let nt = TAPS_PER_PASS.min(p.units - t0);
                let mut c0 = 0;
                while c0 < p.unit_len {
                    let nc = MAX_CIN.min(p.unit_len - c0);
                    let pass = Pass {
                        t0,
                        nt,
                        c0,
                        nc,
                        first: t0 == 0 && c0 == 0,
                        last: t0 + nt == p.units && c0 + nc == p.unit_len,
                    };
                    point_tiles(g, &p, a.x, window, blk, pass, &mut srcs[..tiles]);
                    let mut n0 = part.n.0;
                    while n0 < p.cout_g.min(part.n.1) {
                        // SAFETY: the caller's contract; `srcs` was just
                        // pointed at this pass's inputs.
                        unsafe {
                            panel::<K, MR, NR, MB, WIN>(a, &p, blk, pass, n0, &srcs, &mut acc)
                        };
                        n0 += NR;
                    }
                    c0 += nc;
                }
                t0 += nt;
            }
        }
        if let Some(after) = after {
            let px = (MR * MB).min(part.m.1 - m0);
            // SAFETY: the block's pixels x this part's filters were all
            // written above and belong to this task alone.
            unsafe { after.apply(a, &p, part, m0, px) };
        }
        m0 += MR * MB;
    }
}

/// The activations of a layer that no kernel applies in registers
/// (sigmoid, swish, gelu, hard silu, tanh, ...: all but linear, relu and
/// relu6), applied by [`drive`] to each block of pixels once all its
/// filters are written (in L1): the tiles keep the register epilogue
/// (`Kernel::tile_clamped`), and a wide activation costs one call per
/// block instead of one per pixel. EfficientNetB0's 1x1 convs with swish,
/// 112x112x16->96 and 56x56x24->144: 28.3 -> 43.8 and 36.0 -> 51.9
/// Gelem/s (`cargo bench --bench conv -- effb0`, Zen 4, AVX-512; with the
/// fused multiply-adds of `Activation::map_wide`).
#[derive(Clone, Copy)]
struct AfterBlock {
    /// What the kernel applies: the layer's activation, or linear when
    /// it is applied after.
    kernel_activation: Activation,
    /// Applied to the block's outputs, in order.
    activation: Activation,
    post: Activation,
}

impl AfterBlock {
    /// `None` when the kernels apply everything. The layer's activation
    /// comes after only with nothing added between it and the post
    /// activation; the post activation (the last step) always can.
    fn of(g: &Conv2dGeom, l: &OutLayout<'_>) -> Option<AfterBlock> {
        let in_registers = |a: Activation| a.clamp_bounds().is_some();
        if !in_registers(g.activation) && !l.accumulate && l.residual.is_empty() {
            Some(AfterBlock {
                kernel_activation: Activation::Linear,
                activation: g.activation,
                post: l.post,
            })
        } else if !in_registers(l.post) {
            Some(AfterBlock {
                kernel_activation: g.activation,
                activation: Activation::Linear,
                post: l.post,
            })
        } else {
            None
        }
    }

    /// Applies the activations to pixels `m0..m0 + px` x `part`'s filters.
    ///
    /// # Safety
    /// Those outputs belong to the calling task alone (as `OutPtr::row`).
    #[inline(always)]
    unsafe fn apply(self, a: &ConvArgs<'_>, p: &Plan, part: Part, m0: usize, px: usize) {
        let (g, l) = (a.g, &a.layout);
        let run = |v: &mut [f32]| {
            self.activation.apply_inline(v);
            self.post.apply_inline(v);
        };
        let (n_lo, n_hi) = (part.n.0, part.n.1.min(p.cout_g));
        if g.groups == 1 && n_lo == 0 && n_hi == g.output.c && l.stride == g.output.c {
            // The block's pixels are one run of the output (`offset` is 0).
            // SAFETY: the caller's contract.
            return run(unsafe { a.out.row(m0 * l.stride + l.offset, px * l.stride) });
        }
        for m in m0..m0 + px {
            for grp in 0..g.groups {
                let f0 = grp * p.cout_g + n_lo;
                // SAFETY: the caller's contract.
                run(unsafe { a.out.row(m * l.stride + l.offset + f0, n_hi - n_lo) });
            }
        }
    }
}

/// Row-merged mode: copies the input rows that the block's output rows
/// read into `store`, with their zero padding, and returns them.
#[inline(always)]
fn fill_window<'w>(
    g: &Conv2dGeom,
    p: &Plan,
    x: &[f32],
    blk: Block,
    store: &'w mut [MaybeUninit<f32>],
) -> &'w [f32] {
    let (inp, o) = (g.input, g.output);
    let oy_a = blk.m0 / o.w;
    let oy_b = (blk.m0 + blk.px - 1) / o.w;
    let row0 = (oy_a * g.strides.0) as isize - g.pad.0 as isize;
    let nrows = (oy_b - oy_a) * g.strides.0 + (g.kernel.0 - 1) * g.dilation.0 + 1;
    let row_len = p.wp * inp.c;
    let filled = &mut store[..nrows * row_len];
    for (r, dst) in filled.chunks_exact_mut(row_len).enumerate() {
        let iy = row0 + r as isize;
        if iy < 0 || iy as usize >= inp.h {
            dst.fill(MaybeUninit::new(0.0));
            continue;
        }
        let (left, rest) = dst.split_at_mut(g.pad.1 * inp.c);
        let (mid, right) = rest.split_at_mut(inp.w * inp.c);
        left.fill(MaybeUninit::new(0.0));
        let src = &x[iy as usize * inp.w * inp.c..][..inp.w * inp.c];
        for (d, s) in mid.iter_mut().zip(src) {
            d.write(*s);
        }
        right.fill(MaybeUninit::new(0.0));
    }
    // SAFETY: every element of `filled` was written just above (each row:
    // zeros, or left padding + a copied input row + right padding, which
    // together are `row_len` long), and `MaybeUninit<f32>` has the layout of
    // `f32`.
    unsafe { core::slice::from_raw_parts(filled.as_ptr().cast::<f32>(), filled.len()) }
}

/// Points each tile's rows of `srcs` at the inputs of `pass`: per unit and
/// pixel, a run of `pass.nc` floats (from the window, the input, or the
/// zero row where the tap falls in the padding or the pixel past the part).
#[inline(always)]
fn point_tiles<const MR: usize>(
    g: &Conv2dGeom,
    p: &Plan,
    x: &[f32],
    window: &[f32],
    blk: Block,
    pass: Pass,
    srcs: &mut [[[*const f32; MR]; TAPS_PER_PASS]],
) {
    let (inp, o) = (g.input, g.output);
    let zero = ZEROS.as_ptr();
    let (nt, nc, c0) = (pass.nt, pass.nc, pass.c0);
    let ch0 = blk.grp * p.cin_g + c0;
    for (bt, tile_srcs) in srcs.iter_mut().enumerate() {
        let m0 = blk.m0 + bt * MR;
        let rows = MR.min(blk.m_end - m0);
        if p.merged {
            // Unit `ky` of pixel (oy, ox): window row
            // `(oy - oy_a) * sy + ky * dy`, column `ox * sx`, so its first
            // float is the pixel's `base` plus the unit's offset (`c0`: this
            // pass's part of the unit, as `kw * cin` can exceed `MAX_CIN`).
            // The pixels' coordinates step along the tile instead of a
            // division per pixel and unit (RGB stems 2-3% faster, `cargo
            // bench --bench conv_min -- stem`).
            let oy_a = blk.m0 / o.w;
            let (mut oy, mut ox) = (m0 / o.w, m0 % o.w);
            let mut base = [0usize; MR];
            for b in base[..rows].iter_mut() {
                *b = ((oy - oy_a) * g.strides.0 * p.wp + ox * g.strides.1) * inp.c;
                ox += 1;
                if ox == o.w {
                    (oy, ox) = (oy + 1, 0);
                }
            }
            for (ti, row) in tile_srcs[..nt].iter_mut().enumerate() {
                let unit = (pass.t0 + ti) * g.dilation.0 * p.wp * inp.c + c0;
                for (mi, src) in row.iter_mut().enumerate() {
                    *src = if mi < rows {
                        window[base[mi] + unit..][..nc].as_ptr()
                    } else {
                        zero
                    };
                }
            }
            continue;
        }
        if p.pointwise {
            for (mi, src) in tile_srcs[0].iter_mut().enumerate() {
                *src = if mi < rows {
                    x[(m0 + mi) * inp.c + ch0..][..nc].as_ptr()
                } else {
                    zero
                };
            }
            continue;
        }
        // Each pixel's top-left input cell (in the upsampled frame, before
        // padding): one division per pixel per pass.
        let mut corner = [(0isize, 0isize); MR];
        for (mi, c) in corner[..rows].iter_mut().enumerate() {
            let (oy, ox) = ((m0 + mi) / o.w, (m0 + mi) % o.w);
            *c = (
                (oy * g.strides.0) as isize - g.pad.0 as isize,
                (ox * g.strides.1) as isize - g.pad.1 as isize,
            );
        }
        for (ti, row) in tile_srcs[..nt].iter_mut().enumerate() {
            let (ky, kx) = ((pass.t0 + ti) / g.kernel.1, (pass.t0 + ti) % g.kernel.1);
            let (dy, dx) = ((ky * g.dilation.0) as isize, (kx * g.dilation.1) as isize);
            for (mi, src) in row.iter_mut().enumerate() {
                *src = zero;
                if mi >= rows {
                    continue;
                }
                let (iy, ix) = (corner[mi].0 + dy, corner[mi].1 + dx);
                if iy < 0 || ix < 0 || iy as usize >= p.h_up || ix as usize >= p.w_up {
                    continue;
                }
                let (mut iy, mut ix) = (iy as usize, ix as usize);
                if p.upsampled {
                    (iy, ix) = (iy / g.upsample.0, ix / g.upsample.1);
                }
                *src = x[(iy * inp.w + ix) * inp.c + ch0..][..nc].as_ptr();
            }
        }
    }
}

/// One pass of the block on the panel (pair) of filters starting at `n0`.
/// Reduction chunks: several whole taps when a tap is short, else `KC`
/// channels of one tap; chunks of equal size, so no tail chunk is nearly
/// empty.
///
/// # Safety
/// As [`drive`]; `srcs` points at `pass`'s inputs ([`point_tiles`]).
#[inline(always)]
unsafe fn panel<
    K: Kernel<MR, NR, MB, WIN>,
    const MR: usize,
    const NR: usize,
    const MB: usize,
    const WIN: usize,
>(
    a: &ConvArgs<'_>,
    p: &Plan,
    blk: Block,
    pass: Pass,
    n0: usize,
    srcs: &[[[*const f32; MR]; TAPS_PER_PASS]; MB],
    acc: &mut [[[f32; NR]; MR]; MB],
) {
    let (nt, nc) = (pass.nt, pass.nc);
    let tiles = blk.px.div_ceil(MR);
    let taps_per_chunk = if nc >= K::KC {
        1
    } else {
        nt.div_ceil((nt * nc).div_ceil(K::KC))
    };
    let chans_per_chunk = nc.div_ceil(nc.div_ceil(K::KC));
    let panel = a.packed[blk.grp * p.group_stride + (n0 / PANEL) * p.panel_stride..].as_ptr();
    let tap_stride = p.unit_len * PANEL;
    if pass.first && pass.last && taps_per_chunk >= nt && chans_per_chunk >= nc {
        // SAFETY: row `t0 * unit_len + c0` of this panel is inside it
        // (`t0 < units`, `c0 < unit_len`).
        let b = unsafe { panel.add((pass.t0 * p.unit_len + pass.c0) * PANEL) };
        // SAFETY: the caller's contract, with the whole pass as one chunk.
        unsafe { whole_tiles::<K, MR, NR, MB, WIN>(a, p, blk, n0, &srcs[..tiles], nt, nc, b) };
        return;
    }
    for t in acc[..tiles].iter_mut() {
        *t = [[0.0; NR]; MR];
    }
    let chunk_at = |tc: usize, cc: usize| {
        panel.wrapping_add(((pass.t0 + tc) * p.unit_len + pass.c0 + cc) * PANEL)
    };
    let mut tc = 0;
    while tc < nt {
        let ntc = taps_per_chunk.min(nt - tc);
        let mut cc = 0;
        while cc < nc {
            let ncc = chans_per_chunk.min(nc - cc);
            let b = chunk_at(tc, cc);
            // The chunk after this one, prefetched a slice per tile while
            // this one runs (below): the next in this panel, else the
            // first of the next panel (pair).
            let next = if cc + ncc < nc {
                Some((
                    chunk_at(tc, cc + ncc),
                    ntc,
                    chans_per_chunk.min(nc - cc - ncc),
                ))
            } else if tc + ntc < nt {
                let ntc2 = taps_per_chunk.min(nt - tc - ntc);
                Some((chunk_at(tc + ntc, 0), ntc2, chans_per_chunk.min(nc)))
            } else if n0 + NR < p.cout_g {
                let step = NR.div_ceil(PANEL) * p.panel_stride;
                Some((
                    chunk_at(0, 0).wrapping_add(step),
                    taps_per_chunk.min(nt),
                    chans_per_chunk.min(nc),
                ))
            } else {
                None
            };
            for (i, (ts, t)) in srcs[..tiles]
                .iter()
                .zip(acc[..tiles].iter_mut())
                .enumerate()
            {
                if let (Some((nb, ntaps, rows)), true) = (next, p.stream_weights) {
                    prefetch_slice::<NR>(nb, ntaps, rows, tap_stride, p.panel_stride, i, tiles);
                }
                // SAFETY: the CPU supports `K`'s ISA (caller's contract);
                // every `srcs` entry points at `nc` readable floats (a run
                // of an input pixel's channels in this group, or the zero
                // row, `nc <= MAX_CIN`), of which channels `cc..cc + ncc`
                // are read. From `b`, tap `ti` reads `ncc` panel rows
                // starting `ti * unit_len` rows in, inside this panel and,
                // for 32-wide tiles, the next (panel counts are even).
                unsafe { K::tile(&ts[tc..tc + ntc], cc, ncc, b, tap_stride, p.panel_stride, t) };
            }
            cc += ncc;
        }
        tc += ntc;
    }
    store_block(a, blk, pass, n0, &acc[..tiles]);
}

/// Prefetches into L2 slice `i` of `n` of a chunk's weights: `ntaps` taps
/// `tap_stride` floats apart, `rows` rows of [`PANEL`] floats (one cache
/// line) each, in `NR / PANEL` panels `panel_stride` apart. A block's tiles
/// each take a slice, so the next chunk arrives while this one runs: inside
/// a network whose weights exceed the caches (resnet_like_224's 7x7x512
/// layers, 9.4 MB each) the first tile of a chunk otherwise waits on
/// memory, a third of the layer's time.
#[inline(always)]
fn prefetch_slice<const NR: usize>(
    b: *const f32,
    ntaps: usize,
    rows: usize,
    tap_stride: usize,
    panel_stride: usize,
    i: usize,
    n: usize,
) {
    // Slice `i` of each tap's rows (no division per line: a 3x3 conv's
    // chunk has a few hundred lines, a tile a few thousand cycles).
    let (lo, hi) = (i * rows / n, (i + 1) * rows / n);
    for panel in 0..NR.div_ceil(PANEL) {
        for t in 0..ntaps {
            let first = b.wrapping_add(panel * panel_stride + t * tap_stride);
            for r in lo..hi {
                prefetch_l2(first.wrapping_add(r * PANEL));
            }
        }
    }
}

/// A hint that `p`'s cache line will be read soon (nothing off x86-64).
#[inline(always)]
fn prefetch_l2(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing and never faults, whatever the
    // address; SSE is part of the x86-64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T1 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The whole reduction in one chunk and one pass (1x1 and small convs):
/// each tile's accumulators start at zero in a local the inlined tile keeps
/// in registers, and go straight through the epilogue to the output,
/// instead of through the block's accumulator array (for a 16-channel 1x1
/// conv, clearing, reloading and storing it cost more than the
/// multiply-adds).
///
/// # Safety
/// As [`panel`]; `b` is the pass's first weight row in the panel.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn whole_tiles<
    K: Kernel<MR, NR, MB, WIN>,
    const MR: usize,
    const NR: usize,
    const MB: usize,
    const WIN: usize,
>(
    a: &ConvArgs<'_>,
    p: &Plan,
    blk: Block,
    n0: usize,
    srcs: &[[[*const f32; MR]; TAPS_PER_PASS]],
    nt: usize,
    nc: usize,
    b: *const f32,
) {
    let o = a.g.output;
    let f0 = blk.grp * p.cout_g + n0;
    let ncols = NR.min(p.cout_g - n0);
    let bias = a.bias.map(|b| &b[f0..f0 + ncols]);
    let layout = &a.layout;
    let clamps = match (a.g.activation.clamp_bounds(), layout.post.clamp_bounds()) {
        (Some(act), Some(post)) if K::CLAMPED && layout.residual.len() <= 1 => Some((act, post)),
        _ => None,
    };
    for (bt, ts) in srcs.iter().enumerate() {
        let m0 = blk.m0 + bt * MR;
        let rows = MR.min(blk.m_end - m0);
        if let Some((act, post)) = clamps {
            let mut epi = Clamped {
                out: [core::ptr::null_mut(); MR],
                residual: [core::ptr::null(); MR],
                accumulate: layout.accumulate,
                rows,
                ncols,
                bias: bias.map_or(core::ptr::null(), |b| b.as_ptr()),
                act,
                post,
            };
            // SAFETY: the tasks of one call write disjoint rectangles of the
            // output (`Part`s of a partition), so no live reference covers
            // these row segments; only the kernel reads and writes through
            // the pointers.
            unsafe {
                a.out.rows(
                    m0 * layout.stride + layout.offset + f0,
                    layout.stride,
                    ncols,
                    rows,
                    &mut epi.out,
                )
            };
            if let Some(r) = layout.residual.first() {
                for (mi, rp) in epi.residual[..rows].iter_mut().enumerate() {
                    *rp = r[(m0 + mi) * o.c + f0..][..ncols].as_ptr();
                }
            }
            // SAFETY: as for the chunked calls in `panel`, with the whole
            // pass as one chunk; `epi.out` rows are bounds-checked rows of
            // this task's part, `epi.residual` rows bounds-checked runs of
            // `ncols` floats of the residual (never the output: `conv_on`
            // takes it by shared reference), `bias` has `ncols` floats.
            unsafe { K::tile_clamped(&ts[..nt], nc, b, p.unit_len * PANEL, p.panel_stride, &epi) };
            continue;
        }
        let mut t = [[0.0f32; NR]; MR];
        // SAFETY: as for the chunked calls in `panel`, with the whole pass
        // as one chunk (`tc = cc = 0`, `ntc = nt`, `ncc = nc`).
        unsafe {
            K::tile(
                &ts[..nt],
                0,
                nc,
                b,
                p.unit_len * PANEL,
                p.panel_stride,
                &mut t,
            )
        };
        for (mi, t) in t[..rows].iter().enumerate() {
            // SAFETY: the tasks of one call write disjoint rectangles
            // (pixels x filters) of the output (`Part`s of a partition), so
            // no other live reference covers this row segment.
            let row = unsafe {
                a.out
                    .row((m0 + mi) * layout.stride + layout.offset + f0, ncols)
            };
            epilogue(row, t, bias, a.g.activation, layout, (m0 + mi) * o.c + f0);
        }
    }
}

/// Writes the block's accumulators after one pass: through the whole
/// epilogue when the layer has one pass (nearly every layer, one store);
/// else added to what earlier passes left, with bias on the first pass and
/// activation, residuals and post-activation on the last.
#[inline(always)]
fn store_block<const MR: usize, const NR: usize>(
    a: &ConvArgs<'_>,
    blk: Block,
    pass: Pass,
    n0: usize,
    acc: &[[[f32; NR]; MR]],
) {
    let (g, layout) = (a.g, &a.layout);
    let o = g.output;
    let cout_g = o.c / g.groups;
    let f0 = blk.grp * cout_g + n0;
    let ncols = NR.min(cout_g - n0);
    let bias = a.bias.map(|b| &b[f0..f0 + ncols]);
    for (bt, tile_acc) in acc.iter().enumerate() {
        let m0 = blk.m0 + bt * MR;
        let rows = MR.min(blk.m_end - m0);
        for (mi, t) in tile_acc[..rows].iter().enumerate() {
            let px = m0 + mi;
            // SAFETY: as in `whole_tiles` (disjoint parts).
            let row = unsafe { a.out.row(px * layout.stride + layout.offset + f0, ncols) };
            if pass.first && pass.last {
                epilogue(row, t, bias, g.activation, layout, px * o.c + f0);
                continue;
            }
            let t = &t[..ncols];
            if layout.accumulate {
                // `row` holds a residual: keep it and add this pass (bias
                // and activation on the first; several passes imply linear).
                let mut s = [0.0f32; NR];
                let s = &mut s[..ncols];
                s.copy_from_slice(t);
                if pass.first {
                    if let Some(bias) = bias {
                        for (s, b) in s.iter_mut().zip(bias) {
                            *s += b;
                        }
                    }
                    if pass.last {
                        g.activation.apply_inline(s);
                    }
                }
                for (r, s) in row.iter_mut().zip(s.iter()) {
                    *r += s;
                }
            } else if pass.first {
                match bias {
                    Some(bias) => {
                        for ((r, t), b) in row.iter_mut().zip(t).zip(bias) {
                            *r = t + b;
                        }
                    }
                    None => row.copy_from_slice(t),
                }
            } else {
                for (r, t) in row.iter_mut().zip(t) {
                    *r += t;
                }
            }
            if pass.last {
                if !layout.accumulate {
                    g.activation.apply_inline(row);
                }
                for r in layout.residual {
                    for (v, r) in row.iter_mut().zip(&r[px * o.c + f0..][..ncols]) {
                        *v += r;
                    }
                }
                layout.post.apply_inline(row);
            }
        }
    }
}
