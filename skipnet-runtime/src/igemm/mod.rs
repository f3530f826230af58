//! Implicit-GEMM convolution: the output is an `M x N` matrix (pixels x filters),
//! the weights a `K x N` matrix packed once at load time into panels of
//! [`PANEL`] filters, and the input is read in place through per-tap row
//! pointers (no im2col copy), so padding, strides and dilation cost nothing in
//! the inner loop.
//!
//! One register-blocked tile kernel per instruction set (a [`driver::Kernel`]:
//! its tile constants and one `unsafe fn`) computes `MR x NR` outputs; one
//! generic driver ([`driver::drive`], instantiated inside each ISA's
//! `#[target_feature]` function so everything inlines) builds the row
//! pointers, blocks the loops and applies the epilogue. Each ISA file
//! exports an [`IsaKernels`] table; adding an ISA is that file, an [`Isa`]
//! variant (`isa.rs`, with its detection) and its line in [`Isa::kernels`].
//! Winograd ([`winograd`]) runs its products on the same kernels.

use crate::exec::Exec;
use crate::geom::Conv2dGeom;
pub use crate::isa::Isa;
use crate::Activation;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(skipnet_cortex_m_fpu)]
mod cortex_m;
pub(crate) mod driver;
pub(crate) mod epilogue;
#[cfg(target_arch = "x86_64")]
mod lanes;
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod neon;
mod scalar;
pub mod winograd;

/// Filters per packed weight panel. Panel counts are rounded up to an even
/// number so that every tile width (16 or 32) reads inside the packed buffer.
pub const PANEL: usize = 16;

/// Taps (kernel positions) handled per pass; larger kernels take several passes
/// that accumulate into the output.
pub const TAPS_PER_PASS: usize = 25;

/// Input channels handled per pass (the zero row that padding taps read has
/// this length); more channels take several passes.
pub const MAX_CIN: usize = 2048;

/// Layers with fewer input channels than this (and a kernel more than one
/// column wide, no column dilation, no folded upsample, one group) read whole
/// kernel rows from a zero-padded copy of the block's input rows.
pub const MERGE_BELOW_CIN: usize = 64;

/// All zeros: the "input pixel" of a tap that falls in the padding.
static ZEROS: [f32; MAX_CIN] = [0.0; MAX_CIN];

/// Panels per group, rounded up to an even number.
pub const fn panels_per_group(g: &Conv2dGeom) -> usize {
    let p = (g.output.c / g.groups).div_ceil(PANEL);
    p + p % 2
}

/// Reduction length `K = kh * kw * (in / groups)`.
pub const fn k_len(g: &Conv2dGeom) -> usize {
    g.kernel.0 * g.kernel.1 * (g.input.c / g.groups)
}

impl Conv2dGeom {
    /// Length of the kernel once packed by
    /// [`pack_kernel`](crate::ops::conv2d::pack_kernel).
    pub const fn packed_kernel_len(&self) -> usize {
        packed_len(self)
    }
}

/// f32 elements of the packed kernel.
pub const fn packed_len(g: &Conv2dGeom) -> usize {
    g.groups * panels_per_group(g) * k_len(g) * PANEL
}

/// Checks what the driver's pointer arithmetic relies on, with checked
/// arithmetic (so a hostile geometry cannot wrap a length in a release
/// build): every size at least 1 where it divides or steps, groups dividing
/// both channel counts, and the packed kernel's length representable.
/// Returns that length.
///
/// # Panics
/// With a message naming the violated condition.
pub fn validate(g: &Conv2dGeom) -> usize {
    let nonzero = [
        g.kernel.0,
        g.kernel.1,
        g.strides.0,
        g.strides.1,
        g.dilation.0,
        g.dilation.1,
        g.upsample.0,
        g.upsample.1,
        g.groups,
    ];
    assert!(
        nonzero.iter().all(|&v| v >= 1),
        "conv2d geometry: kernel, strides, dilation, upsample and groups must be >= 1 ({g:?})"
    );
    assert!(
        g.input.c.is_multiple_of(g.groups) && g.output.c.is_multiple_of(g.groups),
        "conv2d geometry: groups ({}) must divide the input ({}) and output ({}) channels",
        g.groups,
        g.input.c,
        g.output.c
    );
    let lens = || -> Option<usize> {
        g.input.h.checked_mul(g.input.w)?.checked_mul(g.input.c)?;
        g.input.h.checked_mul(g.upsample.0)?;
        g.input.w.checked_mul(g.upsample.1)?;
        g.output
            .h
            .checked_mul(g.output.w)?
            .checked_mul(g.output.c)?;
        let eff_h = (g.kernel.0 - 1).checked_mul(g.dilation.0)?.checked_add(1)?;
        let eff_w = (g.kernel.1 - 1).checked_mul(g.dilation.1)?.checked_add(1)?;
        g.output.h.checked_mul(g.strides.0)?.checked_add(eff_h)?;
        g.output.w.checked_mul(g.strides.1)?.checked_add(eff_w)?;
        let k = g
            .kernel
            .0
            .checked_mul(g.kernel.1)?
            .checked_mul(g.input.c / g.groups)?;
        k.checked_mul(g.output.c)?; // the Keras kernel's length
        let p = (g.output.c / g.groups).div_ceil(PANEL);
        let p = p.checked_add(p % 2)?;
        // Bytes of the packed kernel must fit an allocation (`isize::MAX`).
        let floats = g
            .groups
            .checked_mul(p)?
            .checked_mul(k)?
            .checked_mul(PANEL)?;
        (floats <= isize::MAX as usize / 4).then_some(floats)
    };
    lens().unwrap_or_else(|| panic!("conv2d geometry: sizes overflow ({g:?})"))
}

/// Repacks a Keras `[kh, kw, in / groups, filters]` kernel into
/// `[group][panel][k][PANEL]`, zero-filling the filters past the end.
pub fn pack(g: &Conv2dGeom, kernel: &[f32], packed: &mut [f32]) {
    let packed_len = validate(g);
    let (k, f) = (k_len(g), g.output.c);
    let cout_g = f / g.groups;
    let panels = panels_per_group(g);
    assert_eq!(kernel.len(), g.kernel_len(), "kernel length");
    assert_eq!(packed.len(), packed_len, "packed kernel length");
    packed.fill(0.0);
    for grp in 0..g.groups {
        for p in 0..panels {
            let dst = &mut packed[(grp * panels + p) * k * PANEL..][..k * PANEL];
            let j0 = p * PANEL;
            if j0 >= cout_g {
                continue;
            }
            let n = PANEL.min(cout_g - j0);
            for (kk, row) in dst.chunks_exact_mut(PANEL).enumerate() {
                row[..n].copy_from_slice(&kernel[kk * f + grp * cout_g + j0..][..n]);
            }
        }
    }
}

/// What an ISA file provides: entry points compiled for that ISA.
pub(crate) struct IsaKernels {
    /// Computes `part` of the conv with the kernel this ISA picks for the
    /// geometry. Safety: the CPU supports the ISA; [`driver::drive`]'s
    /// preconditions.
    pub conv: unsafe fn(&ConvArgs<'_>, Part),
    /// Pixels per tile and tiles per block of the kernel `conv` picks for
    /// the geometry (how tasks cut pixel ranges).
    pub blocking: fn(&Conv2dGeom) -> (usize, usize),
    /// The Winograd input transform (safety: the CPU supports the ISA).
    pub winograd_input: unsafe fn(&winograd::Job<'_>, (usize, usize)),
    /// The Winograd products and output transform on the ISA's main tile
    /// (safety: the CPU supports the ISA).
    pub winograd_products: unsafe fn(&winograd::Job<'_>, winograd::Part),
}

impl Isa {
    /// This ISA's entry points (the portable ones where the target lacks it).
    pub(crate) fn kernels(self) -> &'static IsaKernels {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => &avx512::KERNELS,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => &avx2::KERNELS,
            #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
            Isa::Neon => &neon::KERNELS,
            #[cfg(skipnet_cortex_m_fpu)]
            Isa::CortexM => &cortex_m::KERNELS,
            _ => &scalar::KERNELS,
        }
    }
}

/// One conv call's operands, as the tasks and the driver see them.
pub(crate) struct ConvArgs<'a> {
    pub g: &'a Conv2dGeom,
    pub x: &'a [f32],
    pub packed: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub out: OutPtr<'a>,
    pub layout: OutLayout<'a>,
}

/// Output addressing and the epilogue's extra operands: pixel `p`, filter `f`
/// goes to `out[p * stride + offset + f]`.
#[derive(Clone, Copy, Debug)]
pub struct OutLayout<'a> {
    /// Floats from one output pixel to the next (the channels of the whole map).
    pub stride: usize,
    /// First channel written (non-zero when writing into a concat's slice).
    pub offset: usize,
    /// Tensors of the output's shape (contiguous) added after the activation:
    /// a residual `add` fused into the conv that produces its last operand.
    pub residual: &'a [&'a [f32]],
    /// The output already holds one more residual: add to it instead of
    /// overwriting it (an `add` done in place in an operand's dying buffer).
    /// With more than one pass over the taps or channels
    /// ([`single_pass`]), the layer's activation must be linear.
    pub accumulate: bool,
    /// Applied after the residuals: an activation of the sum (`relu(add(..))`).
    pub post: Activation,
}

impl OutLayout<'_> {
    /// Contiguous output of `c` channels, nothing fused.
    pub const fn plain(c: usize) -> Self {
        OutLayout {
            stride: c,
            offset: 0,
            residual: &[],
            accumulate: false,
            post: Activation::Linear,
        }
    }
}

/// Whether the driver computes every output in one pass (all taps and input
/// channels at once), so an accumulating epilogue may apply any activation.
pub const fn single_pass(g: &Conv2dGeom) -> bool {
    g.kernel.0 * g.kernel.1 <= TAPS_PER_PASS && g.input.c / g.groups <= MAX_CIN
}

/// A rectangle of a conv's output that one task computes: pixels
/// `m.0..m.1` and, in every group, filters `n.0..n.1` (`n.0` a multiple of
/// [`SPLIT_FILTERS`], so every tile width starts on a tile boundary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Part {
    pub m: (usize, usize),
    pub n: (usize, usize),
}

/// Filters are split between tasks in multiples of this (the widest tile).
pub const SPLIT_FILTERS: usize = 32;

/// Multiply-adds below which a conv runs on the calling thread alone (waking
/// the workers would cost more than it saves).
pub const PARALLEL_MIN_MACS: usize = 1 << 19;

/// The output buffer shared by the tasks of one call, each writing its own
/// [`Part`]; rows are handed out one segment at a time. Copies share the
/// buffer: writing through one is `unsafe` ([`OutPtr::row`]) for that reason.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr<'a> {
    ptr: *mut f32,
    len: usize,
    _borrow: core::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: an `OutPtr` only exists for the duration of one `conv_on` call, which
// holds the exclusive borrow of the buffer; tasks running on other threads
// write disjoint segments through it (see `row`).
unsafe impl Send for OutPtr<'_> {}
// SAFETY: as above.
unsafe impl Sync for OutPtr<'_> {}

impl<'a> OutPtr<'a> {
    pub(crate) fn new(out: &'a mut [f32]) -> Self {
        OutPtr {
            ptr: out.as_mut_ptr(),
            len: out.len(),
            _borrow: core::marker::PhantomData,
        }
    }

    /// `out[start..start + n]`, bounds-checked (once per tile row).
    ///
    /// # Safety
    /// No other reference to these elements may be live: callers write only
    /// inside their own `Part`, and parts of one call are disjoint.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn row(&self, start: usize, n: usize) -> &mut [f32] {
        assert!(start <= self.len && n <= self.len - start);
        // SAFETY: in bounds (just checked); exclusivity is the caller's contract.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.add(start), n) }
    }

    /// Pointers to the `rows` runs `out[start + r * stride..][..n]`, `r <
    /// rows` (bounds-checked once, for the last), the rest of `ptrs` left
    /// as they are: a tile's output rows.
    ///
    /// # Safety
    /// As [`row`](Self::row), for every run.
    #[inline(always)]
    pub(crate) unsafe fn rows<const M: usize>(
        &self,
        start: usize,
        stride: usize,
        n: usize,
        rows: usize,
        ptrs: &mut [*mut f32; M],
    ) {
        if rows == 0 {
            return;
        }
        assert!(rows <= M, "more rows than pointers");
        let last = (rows - 1)
            .checked_mul(stride)
            .and_then(|d| d.checked_add(start));
        assert!(matches!(last, Some(last) if last <= self.len && n <= self.len - last));
        for (r, p) in ptrs[..rows].iter_mut().enumerate() {
            // In bounds: `start + r * stride + n <= last + n <= len` (no
            // overflow: `last` did not).
            *p = self.ptr.wrapping_add(start + r * stride);
        }
    }

    /// `out[start..start + n]` (bounds-checked) as a buffer of its own:
    /// for handing disjoint regions to tasks.
    pub(crate) fn sub(&self, start: usize, n: usize) -> OutPtr<'a> {
        assert!(start <= self.len && n <= self.len - start);
        OutPtr {
            ptr: self.ptr.wrapping_add(start),
            len: n,
            _borrow: core::marker::PhantomData,
        }
    }

    /// A pointer to `out[start..start + n]` (bounds-checked) for reading,
    /// without forming a reference; the caller makes sure nothing writes
    /// these elements while it reads them.
    #[inline(always)]
    pub(crate) fn read_ptr(&self, start: usize, n: usize) -> *const f32 {
        assert!(start <= self.len && n <= self.len - start);
        self.ptr.wrapping_add(start).cast_const()
    }
}

/// Runs the convolution with the given ISA on the calling thread. `isa` must
/// be [`Isa::available`] (else the scalar kernel runs).
pub fn conv(
    isa: Isa,
    g: &Conv2dGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    layout: OutLayout<'_>,
) {
    conv_on(&mut Exec::serial(), isa, g, x, packed, bias, out, layout)
}

/// Runs the convolution with the given ISA, split over `exec`'s threads when
/// it is big enough: into blocks of output pixels, and when there are too few
/// of those for the threads (a 7x7 map), also into ranges of filters. Every
/// output element is computed by one task in the same order as on one
/// thread, so results do not depend on the thread count.
#[allow(clippy::too_many_arguments)]
pub fn conv_on(
    exec: &mut Exec,
    isa: Isa,
    g: &Conv2dGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    layout: OutLayout<'_>,
) {
    // Everything below is what the unsafe tile calls and the tasks' disjoint
    // writes rely on; all of it checked before any of them runs.
    let packed_len = validate(g);
    assert_eq!(x.len(), g.input.len(), "conv2d: input length");
    assert_eq!(packed.len(), packed_len, "conv2d: packed kernel length");
    let m = g.output.h * g.output.w;
    check_layout(g, out.len(), &layout);
    if let Some(b) = bias {
        assert_eq!(b.len(), g.output.c, "conv2d: bias length");
    }
    for r in layout.residual {
        assert_eq!(r.len(), g.output.len(), "conv2d: residual length");
    }
    assert!(
        !layout.accumulate || single_pass(g) || g.activation == Activation::Linear,
        "an accumulating epilogue over several passes needs a linear activation"
    );
    let isa = if isa.available() { isa } else { Isa::Scalar };
    let cout_g = g.output.c / g.groups;
    let a = ConvArgs {
        g,
        x,
        packed,
        bias,
        out: OutPtr::new(out),
        layout,
    };
    let macs = m * g.output.c * k_len(g);
    let threads = exec.threads();
    if threads == 1 || macs < PARALLEL_MIN_MACS {
        let whole = Part {
            m: (0, m),
            n: (0, cout_g),
        };
        return run_part(isa, &a, whole);
    }
    let split = Split::new(threads, isa, g);
    exec.run(split.tasks(), &|task| run_part(isa, &a, split.part(task)));
}

/// Checks that an output layout stays inside an output of `out_len` floats:
/// pixels `layout.stride` floats apart, each writing channels
/// `offset..offset + c`: rows of different pixels must not overlap (tasks
/// on other threads write them), and the last must end inside `out`.
pub(crate) fn check_layout(g: &Conv2dGeom, out_len: usize, layout: &OutLayout<'_>) {
    let m = g.output.h * g.output.w;
    assert!(
        layout
            .offset
            .checked_add(g.output.c)
            .is_some_and(|end| end <= layout.stride),
        "conv2d: output layout writes channels {}..{}+{} of pixels only {} apart",
        layout.offset,
        layout.offset,
        g.output.c,
        layout.stride
    );
    if m > 0 {
        let end = (m - 1)
            .checked_mul(layout.stride)
            .and_then(|v| v.checked_add(layout.offset + g.output.c));
        assert!(
            end.is_some_and(|end| end <= out_len),
            "conv2d: output of {m} pixels, {} floats apart, does not fit {out_len} floats",
            layout.stride,
        );
    }
}

/// How [`conv_on`] cuts a conv into tasks. With enough pixels, into a
/// multiple of the thread count of pixel ranges, equal to within one tile
/// (each at most one driver block); with few (a 7x7 or 14x14 map), the
/// blocks' filters are cut into ranges too, again a multiple of the thread
/// count where the filters allow. Equal task counts per thread matter more
/// than task size: with 9 equal tasks on 2 threads one thread does 5.
#[derive(Clone, Copy, Debug)]
struct Split {
    m: usize,
    cout_g: usize,
    mr: usize,
    tiles: usize,
    m_parts: usize,
    n_split: usize,
    units_per_task: usize,
}

impl Split {
    fn new(threads: usize, isa: Isa, g: &Conv2dGeom) -> Split {
        let m = g.output.h * g.output.w;
        let cout_g = g.output.c / g.groups;
        let (mr, mb) = (isa.kernels().blocking)(g);
        let tiles = m.div_ceil(mr).max(1);
        let m_blocks = tiles.div_ceil(mb);
        let n_units = cout_g.div_ceil(SPLIT_FILTERS).max(1);
        let (m_parts, n_split) = if m_blocks >= 2 * threads {
            ((threads * m_blocks.div_ceil(threads)).min(tiles), 1)
        } else {
            let mut n_split = n_units.min((4 * threads).div_ceil(m_blocks));
            if n_split >= threads {
                n_split -= n_split % threads;
            }
            (m_blocks, n_split)
        };
        let units_per_task = n_units.div_ceil(n_split);
        Split {
            m,
            cout_g,
            mr,
            tiles,
            m_parts,
            n_split: n_units.div_ceil(units_per_task),
            units_per_task,
        }
    }

    fn tasks(&self) -> usize {
        self.m_parts * self.n_split
    }

    fn part(&self, task: usize) -> Part {
        let (mp, nb) = (task / self.n_split, task % self.n_split);
        let tile = |i: usize| (i * self.tiles / self.m_parts * self.mr).min(self.m);
        let n_width = self.units_per_task * SPLIT_FILTERS;
        Part {
            m: (tile(mp), tile(mp + 1)),
            n: (nb * n_width, self.cout_g.min((nb + 1) * n_width)),
        }
    }
}

/// One task: the `part` of the output, on `isa` (available: checked by the caller).
fn run_part(isa: Isa, a: &ConvArgs<'_>, part: Part) {
    // SAFETY: `isa` is available on this CPU (`conv_on` fell back to the
    // portable kernel otherwise), and `conv_on` checked what the driver
    // relies on: `validate`, the slice lengths against the geometry, the
    // layout inside the output; the tasks' parts are disjoint.
    unsafe { (isa.kernels().conv)(a, part) }
}

/// The Winograd input transform of `tiles` of the job's block on `isa`
/// (available: checked by the caller).
pub(crate) fn winograd_input(isa: Isa, job: &winograd::Job<'_>, tiles: (usize, usize)) {
    // SAFETY: `isa` is available on this CPU (the caller's check).
    unsafe { (isa.kernels().winograd_input)(job, tiles) }
}

/// The Winograd products and output transform of `part` on `isa`
/// (available: checked by the caller), with the ISA's register tile.
pub(crate) fn winograd_products(isa: Isa, job: &winograd::Job<'_>, part: winograd::Part) {
    // SAFETY: `isa` is available on this CPU (the caller's check).
    unsafe { (isa.kernels().winograd_products)(job, part) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::max_abs_diff;
    use crate::ops::conv2d::conv2d_reference;
    use crate::ops::Hwc;
    use crate::testing::isas_under_test;
    use crate::Activation;
    use alloc::vec::Vec;

    /// Deterministic pseudo-random values in [-1, 1).
    fn values(n: usize, seed: u32) -> alloc::vec::Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn check(g: Conv2dGeom) {
        let x = values(g.input.len(), 1);
        let kernel = values(g.kernel_len(), 2);
        let bias = values(g.output.c, 3);
        let mut want = alloc::vec![0.0; g.output.len()];
        conv2d_reference(&g, &x, &kernel, Some(&bias), &mut want);
        let mut packed = alloc::vec![0.0; packed_len(&g)];
        pack(&g, &kernel, &mut packed);
        type Run = fn(&Conv2dGeom, &[f32], &[f32], Option<&[f32]>, &mut [f32], OutLayout<'_>);
        let mut runs: alloc::vec::Vec<(&str, Run)> = alloc::vec::Vec::new();
        for isa in isas_under_test("igemm::check") {
            let run: Run = match isa {
                Isa::Scalar => |g, x, p, b, o, l| conv(Isa::Scalar, g, x, p, b, o, l),
                Isa::Avx2Fma => |g, x, p, b, o, l| conv(Isa::Avx2Fma, g, x, p, b, o, l),
                Isa::Avx512 => |g, x, p, b, o, l| conv(Isa::Avx512, g, x, p, b, o, l),
                Isa::Neon => |g, x, p, b, o, l| conv(Isa::Neon, g, x, p, b, o, l),
                Isa::CortexM => |g, x, p, b, o, l| conv(Isa::CortexM, g, x, p, b, o, l),
            };
            runs.push((crate::testing::isa_name(isa), run));
        }
        // The AVX-512 blocking in portable code, so it is checked everywhere.
        runs.push(("32-wide blocking", |g, x, p, b, o, l| {
            let whole = Part {
                m: (0, g.output.h * g.output.w),
                n: (0, g.output.c / g.groups),
            };
            let a = ConvArgs {
                g,
                x,
                packed: p,
                bias: b,
                out: OutPtr::new(o),
                layout: l,
            };
            scalar::conv_wide(&a, whole)
        }));
        let scale = magnitudes(&g, &x, &kernel, Some(&bias));
        for (name, run) in runs {
            let mut got = alloc::vec![f32::NAN; g.output.len()];
            let layout = OutLayout::plain(g.output.c);
            run(&g, &x, &packed, Some(&bias), &mut got, layout);
            assert_close(name, &g, &got, &want, &scale);
        }
    }

    /// `|bias| + sum |x * w|` for every output: the scale of its float32
    /// rounding error (the reference and the kernels sum in different orders).
    fn magnitudes(g: &Conv2dGeom, x: &[f32], kernel: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let abs = |v: &[f32]| v.iter().map(|v| v.abs()).collect::<Vec<_>>();
        let linear = Conv2dGeom {
            activation: Activation::Linear,
            ..*g
        };
        let mut m = alloc::vec![0.0; g.output.len()];
        let bias = bias.map(abs);
        conv2d_reference(&linear, &abs(x), &abs(kernel), bias.as_deref(), &mut m);
        m
    }

    /// Every output within `1e-5 * max(1, scale)` of the reference (NaN and
    /// infinity fail): float32 rounding grows with the reduction's magnitude,
    /// a wrong tap or channel moves an output by a sizeable part of it.
    fn assert_close(name: &str, g: &Conv2dGeom, got: &[f32], want: &[f32], scale: &[f32]) {
        assert_eq!(
            max_abs_diff(got, got),
            0.0,
            "{name} {g:?}: output not finite"
        );
        for (i, ((a, b), s)) in got.iter().zip(want).zip(scale).enumerate() {
            let tol = 1e-5 * s.max(1.0);
            assert!(
                (a - b).abs() <= tol,
                "{name} {g:?}: output {i}: {a} vs reference {b} (tolerance {tol})"
            );
        }
    }

    fn geom(input: Hwc, filters: usize, k: (usize, usize), s: usize, same: bool) -> Conv2dGeom {
        let out = |n: usize, k: usize| if same { n.div_ceil(s) } else { (n - k) / s + 1 };
        let pad = |n: usize, k: usize| {
            if same {
                ((out(n, k) - 1) * s + k).saturating_sub(n) / 2
            } else {
                0
            }
        };
        Conv2dGeom {
            input,
            output: Hwc {
                h: out(input.h, k.0),
                w: out(input.w, k.1),
                c: filters,
            },
            kernel: k,
            strides: (s, s),
            dilation: (1, 1),
            pad: (pad(input.h, k.0), pad(input.w, k.1)),
            groups: 1,
            activation: Activation::Relu,
            upsample: (1, 1),
        }
    }

    #[test]
    fn detect_picks_this_targets_simd_kernel() {
        let isa = Isa::detect();
        assert!(isa.available());
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        assert_eq!(isa, Isa::Neon);
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            assert_ne!(isa, Isa::Scalar);
        }
    }

    #[test]
    fn every_isa_matches_the_reference() {
        check(geom(Hwc { h: 9, w: 7, c: 3 }, 32, (3, 3), 2, true));
        check(geom(Hwc { h: 8, w: 8, c: 17 }, 5, (3, 3), 1, true));
        check(geom(Hwc { h: 6, w: 5, c: 40 }, 50, (1, 1), 1, false));
        check(geom(Hwc { h: 12, w: 11, c: 4 }, 33, (7, 7), 2, true));
        check(geom(Hwc { h: 10, w: 9, c: 8 }, 16, (5, 3), 1, false));
        // At most 4 filters over 16 or more channels (AVX-512 reduces them
        // in the lanes): whole vectors, a masked tail, a 1x1, a stride, a
        // folded upsample.
        check(geom(Hwc { h: 9, w: 11, c: 32 }, 3, (3, 3), 1, true));
        check(geom(Hwc { h: 7, w: 6, c: 37 }, 1, (5, 3), 2, true));
        check(geom(Hwc { h: 5, w: 8, c: 16 }, 4, (1, 1), 1, false));
        let mut g = geom(Hwc { h: 10, w: 8, c: 20 }, 2, (3, 3), 1, true);
        g.input = Hwc { h: 5, w: 4, c: 20 };
        g.upsample = (2, 2);
        check(g);
        // 7x7 and 14x14 maps: AVX-512's 7-pixel tiles (49 and 196 pixels;
        // a 1x1 and a 3x3 conv, 48 filters: a full and a half panel pair).
        check(geom(Hwc { h: 7, w: 7, c: 64 }, 48, (1, 1), 1, true));
        check(geom(
            Hwc {
                h: 14,
                w: 14,
                c: 24,
            },
            48,
            (3, 3),
            1,
            true,
        ));
        // Row-merged mode: narrow maps (a block spans many output rows),
        // padding on the right only, strides larger than the kernel.
        check(geom(Hwc { h: 23, w: 3, c: 5 }, 12, (5, 5), 2, true));
        check(geom(Hwc { h: 17, w: 13, c: 2 }, 20, (4, 4), 3, false));
        check(geom(Hwc { h: 40, w: 2, c: 63 }, 9, (3, 2), 1, true));
        let mut g = geom(Hwc { h: 9, w: 9, c: 12 }, 18, (3, 3), 1, true);
        g.groups = 3;
        check(g);
        let mut g = geom(Hwc { h: 11, w: 11, c: 6 }, 7, (3, 3), 1, false);
        g.dilation = (2, 3);
        g.output = Hwc { h: 7, w: 5, c: 7 };
        check(g);
    }

    /// The in-register epilogues (`Kernel::tile_clamped`: 1x1 convs; bias,
    /// relu, relu6, linear as activation and post-activation; a residual,
    /// an in-place add; whole and partial tile widths) give what the
    /// portable epilogue gives on NaN, infinities and signed zeros: NaN
    /// kept by relu and relu6, infinities clamped, nothing past a row's
    /// filters written.
    #[test]
    fn clamped_epilogues_keep_nan_and_infinities() {
        let special = [
            f32::NAN,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            7.0,
            -3.0,
            5.5,
            0.0,
        ];
        let acts = [Activation::Linear, Activation::Relu, Activation::Relu6];
        // 16 or more channels into at most 4 filters: AVX-512's lanes path
        // and its inline epilogue.
        for (cin, filters) in [
            (2, 5),
            (2, 13),
            (2, 16),
            (2, 20),
            (2, 32),
            (2, 40),
            (16, 3),
            (18, 1),
        ] {
            for (act, post) in acts.iter().flat_map(|&a| acts.iter().map(move |&p| (a, p))) {
                for (with_bias, with_residual, accumulate) in [
                    (false, false, false),
                    (true, false, false),
                    (true, true, false),
                    (false, false, true),
                    (true, true, true),
                ] {
                    let mut g = geom(Hwc { h: 5, w: 7, c: cin }, filters, (1, 1), 1, false);
                    g.activation = act;
                    let n = g.output.len();
                    let x: Vec<f32> = (0..g.input.len()).map(|i| special[i % 8]).collect();
                    let kernel: Vec<f32> = (0..g.kernel_len())
                        .map(|i| [1.0, 0.5, -1.0][i % 3])
                        .collect();
                    let bias: Vec<f32> = (0..filters).map(|i| i as f32 * 0.25 - 1.0).collect();
                    let bias = with_bias.then_some(&bias[..]);
                    let residual: Vec<f32> = (0..n).map(|i| special[(i * 3 + 1) % 8]).collect();
                    let old: Vec<f32> = (0..n).map(|i| special[(i * 5 + 2) % 8] * 0.5).collect();
                    let residuals = [&residual[..]];
                    let layout = OutLayout {
                        residual: if with_residual { &residuals } else { &[] },
                        accumulate,
                        post,
                        ..OutLayout::plain(filters)
                    };
                    let mut packed = alloc::vec![0.0; packed_len(&g)];
                    pack(&g, &kernel, &mut packed);
                    let run = |isa: Isa| {
                        // A guard float after the output: a masked store
                        // past the last row's filters would change it.
                        let mut got = old.clone();
                        got.push(12345.0);
                        conv(isa, &g, &x, &packed, bias, &mut got[..n], layout);
                        assert_eq!(got[n], 12345.0, "{isa:?} wrote past the output");
                        got.truncate(n);
                        got
                    };
                    let want = run(Isa::Scalar);
                    for isa in isas_under_test("igemm::clamped_epilogues") {
                        for (i, (a, b)) in run(isa).iter().zip(&want).enumerate() {
                            let same = a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
                            assert!(
                                same || (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                                "{isa:?} {act:?}/{post:?} {filters} filters, bias {with_bias}, \
                                 residual {with_residual}, accumulate {accumulate}: \
                                 output {i}: {a} vs {b}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Every task of a split, run one after the other, gives bit for bit the
    /// output of one call (what a pool of any size computes, in any order).
    #[test]
    fn split_parts_cover_the_output_exactly_once() {
        let geoms = [
            geom(Hwc { h: 7, w: 7, c: 40 }, 100, (3, 3), 1, true),
            geom(Hwc { h: 30, w: 29, c: 8 }, 20, (3, 3), 1, true),
            geom(Hwc { h: 3, w: 2, c: 5 }, 70, (1, 1), 1, false),
            {
                let mut g = geom(Hwc { h: 9, w: 9, c: 12 }, 18, (3, 3), 1, true);
                g.groups = 3;
                g
            },
        ];
        for g in geoms {
            let x = values(g.input.len(), 31);
            let kernel = values(g.kernel_len(), 32);
            let bias = values(g.output.c, 33);
            let mut packed = alloc::vec![0.0; packed_len(&g)];
            pack(&g, &kernel, &mut packed);
            let layout = OutLayout::plain(g.output.c);
            for isa in isas_under_test("igemm::split_parts") {
                let mut want = alloc::vec![0.0; g.output.len()];
                conv(isa, &g, &x, &packed, Some(&bias), &mut want, layout);
                for threads in 2..=5 {
                    let split = Split::new(threads, isa, &g);
                    assert!(split.tasks() >= 1);
                    let mut got = alloc::vec![f32::NAN; g.output.len()];
                    let a = ConvArgs {
                        g: &g,
                        x: &x,
                        packed: &packed,
                        bias: Some(&bias),
                        out: OutPtr::new(&mut got),
                        layout,
                    };
                    let mut covered = 0;
                    for t in (0..split.tasks()).rev() {
                        let p = split.part(t);
                        assert!(p.m.0 < p.m.1 && p.n.0 < p.n.1, "{p:?}");
                        covered += (p.m.1 - p.m.0) * (p.n.1 - p.n.0);
                        run_part(isa, &a, p);
                    }
                    assert_eq!(covered * g.groups, g.output.len(), "{isa:?} {threads}");
                    assert!(
                        want.iter()
                            .zip(&got)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{isa:?} {threads} {g:?}"
                    );
                }
            }
        }
    }

    /// Reductions longer than one pass of [`MAX_CIN`] floats: a row-merged
    /// unit of `kw * cin = 64 * 40 = 2560` floats (a spectrogram-style
    /// `(1, 64)` kernel; its second pass once lost its channel offset and
    /// returned values up to 1.6 off), a merged `(3, 60)` valid kernel, and
    /// per-tap passes over 2,304 and 4,100 input channels.
    #[test]
    fn regression_long_reductions_take_every_pass_at_its_offset() {
        check(geom(Hwc { h: 3, w: 70, c: 40 }, 8, (1, 64), 1, true));
        check(geom(Hwc { h: 5, w: 66, c: 40 }, 9, (3, 60), 1, false));
        check(geom(Hwc { h: 4, w: 5, c: 52 }, 17, (2, 50), 2, true));
        check(geom(
            Hwc {
                h: 4,
                w: 3,
                c: 2304,
            },
            20,
            (3, 3),
            1,
            true,
        ));
        check(geom(
            Hwc {
                h: 2,
                w: 3,
                c: 4100,
            },
            33,
            (1, 1),
            1,
            false,
        ));
    }

    #[test]
    fn folded_upsample_matches_the_reference() {
        let mut g = geom(
            Hwc {
                h: 10,
                w: 12,
                c: 24,
            },
            40,
            (3, 3),
            1,
            true,
        );
        g.input = Hwc { h: 5, w: 4, c: 24 };
        g.upsample = (2, 3);
        check(g);
    }

    #[test]
    fn residuals_are_added_after_the_activation() {
        let g = geom(Hwc { h: 5, w: 4, c: 6 }, 20, (3, 3), 1, true);
        let x = values(g.input.len(), 11);
        let kernel = values(g.kernel_len(), 12);
        let (r1, r2) = (values(g.output.len(), 13), values(g.output.len(), 14));
        let mut want = alloc::vec![0.0; g.output.len()];
        conv2d_reference(&g, &x, &kernel, None, &mut want);
        for ((w, a), b) in want.iter_mut().zip(&r1).zip(&r2) {
            *w += a + b;
        }
        let mut packed = alloc::vec![0.0; packed_len(&g)];
        pack(&g, &kernel, &mut packed);
        let layout = OutLayout {
            residual: &[&r1, &r2],
            ..OutLayout::plain(g.output.c)
        };
        for isa in isas_under_test("igemm::residuals") {
            let mut got = alloc::vec![f32::NAN; g.output.len()];
            conv(isa, &g, &x, &packed, None, &mut got, layout);
            let err = max_abs_diff(&want, &got);
            assert!(err < 1e-5, "{isa:?}: {err}");
        }
    }

    /// `want = post(act(conv) + r0 + r1)` against the in-place epilogue that
    /// starts from `out = r0`, on every ISA's dispatch.
    fn check_in_place(g: Conv2dGeom, post: Activation) {
        let x = values(g.input.len(), 21);
        let kernel = values(g.kernel_len(), 22);
        let bias = values(g.output.c, 23);
        let (r0, r1) = (values(g.output.len(), 24), values(g.output.len(), 25));
        let mut want = alloc::vec![0.0; g.output.len()];
        conv2d_reference(&g, &x, &kernel, Some(&bias), &mut want);
        for ((w, a), b) in want.iter_mut().zip(&r0).zip(&r1) {
            *w += a + b;
        }
        post.apply(&mut want);
        let mut packed = alloc::vec![0.0; packed_len(&g)];
        pack(&g, &kernel, &mut packed);
        for isa in isas_under_test("igemm::in_place_add") {
            let mut got = r0.clone();
            let layout = OutLayout {
                residual: &[&r1],
                accumulate: true,
                post,
                ..OutLayout::plain(g.output.c)
            };
            conv(isa, &g, &x, &packed, Some(&bias), &mut got, layout);
            let err = max_abs_diff(&want, &got);
            assert!(err < 1e-4, "{isa:?} {g:?}: {err}");
        }
    }

    #[test]
    fn in_place_add_keeps_the_residual_in_the_output() {
        // One pass: the layer's own activation applies before the sum.
        let g = geom(Hwc { h: 5, w: 6, c: 7 }, 19, (3, 3), 1, true);
        assert!(single_pass(&g));
        check_in_place(g, Activation::Relu);
        // A 7x7 kernel takes two passes over the taps: linear layer only.
        let mut g = geom(Hwc { h: 9, w: 8, c: 5 }, 33, (7, 7), 1, true);
        g.activation = Activation::Linear;
        assert!(!single_pass(&g));
        check_in_place(g, Activation::Tanh);
    }

    #[test]
    #[should_panic(expected = "needs a linear activation")]
    fn in_place_add_refuses_a_nonlinear_multi_pass_layer() {
        let g = geom(Hwc { h: 9, w: 8, c: 5 }, 33, (7, 7), 1, true);
        check_in_place(g, Activation::Linear);
    }

    #[test]
    fn writes_into_a_channel_slice() {
        let g = geom(Hwc { h: 4, w: 4, c: 3 }, 5, (3, 3), 1, true);
        let x = values(g.input.len(), 7);
        let kernel = values(g.kernel_len(), 8);
        let mut want = alloc::vec![0.0; g.output.len()];
        conv2d_reference(&g, &x, &kernel, None, &mut want);
        let mut packed = alloc::vec![0.0; packed_len(&g)];
        pack(&g, &kernel, &mut packed);
        // Output pixels 9 channels apart, filters at channel 2..7; the rest untouched.
        for isa in isas_under_test("igemm::writes_into_a_channel_slice") {
            let mut out = alloc::vec![-7.0; 16 * 9];
            let layout = OutLayout {
                stride: 9,
                offset: 2,
                ..OutLayout::plain(5)
            };
            conv(isa, &g, &x, &packed, None, &mut out, layout);
            for p in 0..16 {
                assert_eq!(&out[p * 9..p * 9 + 2], &[-7.0, -7.0], "{isa:?}");
                assert_eq!(&out[p * 9 + 7..p * 9 + 9], &[-7.0, -7.0], "{isa:?}");
                let got = &out[p * 9 + 2..][..5];
                let err = max_abs_diff(got, &want[p * 5..][..5]);
                assert!(err < 1e-5, "{isa:?} pixel {p}: {err}");
            }
        }
    }

    /// Geometries whose sizes would wrap, or that break what the driver's
    /// pointer arithmetic assumes, are refused before any kernel runs.
    #[test]
    fn hostile_geometry_is_refused_with_a_message() {
        use std::panic::catch_unwind;
        let ok = geom(Hwc { h: 4, w: 4, c: 8 }, 8, (3, 3), 1, true);
        let message = |g: Conv2dGeom| {
            let e = catch_unwind(|| validate(&g)).expect_err("must panic");
            e.downcast_ref::<alloc::string::String>()
                .cloned()
                .unwrap_or_default()
        };
        let huge = usize::MAX / 3;
        for (g, want) in [
            (Conv2dGeom { groups: 0, ..ok }, ">= 1"),
            (
                Conv2dGeom {
                    strides: (0, 1),
                    ..ok
                },
                ">= 1",
            ),
            (Conv2dGeom { groups: 3, ..ok }, "must divide"),
            (
                Conv2dGeom {
                    kernel: (huge, 3),
                    ..ok
                },
                "overflow",
            ),
            (
                Conv2dGeom {
                    input: Hwc {
                        h: huge,
                        w: 4,
                        c: 8,
                    },
                    ..ok
                },
                "overflow",
            ),
            (
                Conv2dGeom {
                    output: Hwc {
                        h: 4,
                        w: 4,
                        c: huge,
                    },
                    ..ok
                },
                "overflow",
            ),
        ] {
            let m = message(g);
            assert!(m.contains(want), "{g:?}: {m:?}");
        }
        assert_eq!(validate(&ok), packed_len(&ok));
        // Output rows that overlap (stride < filters) would let two tasks
        // write one element: refused.
        let x = values(ok.input.len(), 1);
        let packed = alloc::vec![0.0; packed_len(&ok)];
        let mut out = alloc::vec![0.0; 16 * 8];
        let e = catch_unwind(core::panic::AssertUnwindSafe(|| {
            let layout = OutLayout {
                stride: 4,
                ..OutLayout::plain(8)
            };
            conv(Isa::Scalar, &ok, &x, &packed, None, &mut out, layout)
        }))
        .expect_err("overlapping rows");
        let m = e
            .downcast_ref::<alloc::string::String>()
            .cloned()
            .unwrap_or_default();
        assert!(m.contains("pixels only 4 apart"), "{m:?}");
    }
}
