//! AVX-512F tile kernels: 8 pixels x 32 filters (two panels), 16 `zmm`
//! accumulators, one broadcast per pixel and two weight loads per reduction
//! step; and 12 pixels x 16 filters (one panel) for layers with at most 16
//! filters per group (MobileNetV2's 16-filter projection), where the wide
//! tile would compute a padding panel for nothing. At most 8 filters (an RGB
//! head) run on AVX2's 12 x 8 tile (`avx2::Narrow`).

use super::driver::{blocking, drive, offset_all, Clamped, Kernel};
use super::{avx2, lanes, ConvArgs, IsaKernels, Part, PANEL};
use crate::geom::Conv2dGeom;
use crate::winograd;
use core::arch::x86_64::*;

pub(super) const KERNELS: IsaKernels = IsaKernels {
    conv,
    blocking: |g| match pick(g) {
        Pick::Lanes => (lanes::P, 16),
        Pick::Avx2Narrow => blocking(&avx2::Narrow),
        Pick::Narrow => blocking(&Narrow),
        Pick::Wide => blocking(&Wide::<8>),
        Pick::Wide7 => blocking(&Wide::<7>),
    },
    winograd_input,
    winograd_products,
};

/// The tile for a geometry, by filters per group and output pixels.
#[derive(Debug, PartialEq)]
enum Pick {
    /// At most 4 filters: the reduction in the lanes ([`lanes`]).
    Lanes,
    Avx2Narrow,
    Narrow,
    Wide,
    /// [`Wide`] with 7 pixels per tile: for maps that 7 divides better than
    /// 8 (7x7: 49 pixels in 7 full tiles, where 8-pixel tiles compute 56).
    Wide7,
}

fn pick(g: &Conv2dGeom) -> Pick {
    let m = g.output.h * g.output.w;
    match g.output.c / g.groups {
        _ if lanes::applies(g) => Pick::Lanes,
        f if f <= 8 => Pick::Avx2Narrow,
        f if f <= PANEL => Pick::Narrow,
        _ if m.div_ceil(7) * 7 < m.div_ceil(8) * 8 => Pick::Wide7,
        _ => Pick::Wide,
    }
}

/// # Safety
/// The CPU must support AVX-512F, AVX2, FMA and F16C (what `avx512f` implies
/// to the compiler, listed so the detection in [`super::Isa::detect`] matches);
/// [`drive`]'s preconditions.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn conv(a: &ConvArgs<'_>, part: Part) {
    // SAFETY: this function's contract; AVX-512F implies the AVX2 and FMA
    // that `avx2::Narrow` needs.
    unsafe {
        match pick(a.g) {
            Pick::Lanes => lanes::conv(a, part),
            Pick::Avx2Narrow => drive(avx2::Narrow, a, part),
            Pick::Narrow => drive(Narrow, a, part),
            Pick::Wide => drive(Wide::<8>, a, part),
            Pick::Wide7 => drive(Wide::<7>, a, part),
        }
    }
}

/// 12 pixels x one panel of 16 filters: one `zmm` accumulator per pixel.
struct Narrow;

impl Kernel<12, 16, 8, 12288> for Narrow {
    const KC: usize = 128;

    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    #[inline]
    unsafe fn tile(
        srcs: &[[*const f32; 12]],
        c_off: usize,
        cin: usize,
        b: *const f32,
        tap_stride: usize,
        _panel_stride: usize,
        out: &mut [[f32; 16]; 12],
    ) {
        let mut acc = [_mm512_setzero_ps(); 12];
        for (a, o) in acc.iter_mut().zip(out.iter()) {
            // SAFETY: each row holds 16 floats: one load.
            *a = unsafe { _mm512_loadu_ps(o.as_ptr()) };
        }
        // SAFETY: this function's contract.
        unsafe { narrow_sums(srcs, c_off, cin, b, tap_stride, &mut acc) };
        for (o, a) in out.iter_mut().zip(&acc) {
            // SAFETY: each output row holds 16 floats: one store.
            unsafe { _mm512_storeu_ps(o.as_mut_ptr(), *a) };
        }
    }

    const CLAMPED: bool = true;

    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    #[inline]
    unsafe fn tile_clamped(
        srcs: &[[*const f32; 12]],
        cin: usize,
        b: *const f32,
        tap_stride: usize,
        _panel_stride: usize,
        epi: &Clamped<12>,
    ) {
        let mut acc = [_mm512_setzero_ps(); 12];
        // SAFETY: this function's contract.
        unsafe { narrow_sums(srcs, 0, cin, b, tap_stride, &mut acc) };
        // SAFETY: `epi.bias` is null or holds `ncols` floats (this
        // function's contract).
        let e = unsafe { ClampRegs::new(epi) };
        // One loop per epilogue shape, so the common ones test nothing per
        // row (`EpiShape`). SAFETY (of each store): `epi.out[m]` is valid
        // for `ncols <= 16` writes (this function's contract), `e.mask[0]`
        // covers `ncols`, `epi.residual[m]` is null or valid for `ncols`
        // reads.
        let rows = &acc[..epi.rows.min(12)];
        match e.shape {
            EpiShape::Bias => {
                for (m, a) in rows.iter().enumerate() {
                    unsafe { e.store_plain::<false>(epi.out[m], 0, *a) };
                }
            }
            EpiShape::BiasClamp => {
                for (m, a) in rows.iter().enumerate() {
                    unsafe { e.store_plain::<true>(epi.out[m], 0, *a) };
                }
            }
            EpiShape::Full => {
                for (m, a) in rows.iter().enumerate() {
                    unsafe { e.store(epi.out[m], epi.residual[m], 0, *a) };
                }
            }
        }
    }
}

/// [`Narrow`]'s multiply-adds, added to `acc`.
///
/// # Safety
/// As [`Kernel::tile`] for [`Narrow`].
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
unsafe fn narrow_sums(
    srcs: &[[*const f32; 12]],
    c_off: usize,
    cin: usize,
    b: *const f32,
    tap_stride: usize,
    acc: &mut [__m512; 12],
) {
    for (ti, s) in srcs.iter().enumerate() {
        // SAFETY: tap `ti`'s rows start `ti * tap_stride` floats into the panel.
        let mut bp = unsafe { b.add(ti * tap_stride) };
        let s = offset_all(s, c_off);
        for ci in 0..cin {
            // SAFETY: `bp` stays within the panel's `srcs.len() * cin` rows;
            // each `s[m]` (already offset by `c_off`) is valid for `cin` reads.
            unsafe {
                let b0 = _mm512_loadu_ps(bp);
                bp = bp.add(PANEL);
                for m in 0..12 {
                    let a = _mm512_set1_ps(*s[m].add(ci));
                    acc[m] = _mm512_fmadd_ps(a, b0, acc[m]);
                }
            }
        }
    }
}

/// What a tile's [`Clamped`] epilogue does besides the bias, decided once
/// per tile ([`Clamped::one_clamp`]): with a 16-channel reduction
/// (MobileNetV2's and EfficientNet's first expand) a tile is 256 FMAs and
/// the epilogue's per-row tests and no-op clamps were a tenth of the layer
/// (doc/benchmarks.md, 2026-12-06).
#[derive(Clone, Copy, PartialEq, Debug)]
enum EpiShape {
    /// Bias only: both clamps unbounded, no in-place or residual operand.
    Bias,
    /// Bias and one clamp, the two clamps' intersection, no in-place or
    /// residual operand.
    BiasClamp,
    /// Anything else: [`ClampRegs::store`].
    Full,
}

/// A [`Clamped`] epilogue in registers: the bias, both clamps' bounds and
/// the store masks of a row's two 16-float halves.
struct ClampRegs {
    bias: [__m512; 2],
    bounds: [__m512; 4],
    mask: [__mmask16; 2],
    accumulate: bool,
    shape: EpiShape,
    /// The bounds of a [`EpiShape::BiasClamp`]'s one clamp.
    single: [__m512; 2],
}

impl ClampRegs {
    /// # Safety
    /// AVX-512F; `epi.bias` null or valid for `epi.ncols <= 32` reads.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    #[inline]
    unsafe fn new<const MR: usize>(epi: &Clamped<MR>) -> ClampRegs {
        let lanes = |n: usize| ((1u32 << n.min(16)) - 1) as __mmask16;
        let mask = [lanes(epi.ncols), lanes(epi.ncols.saturating_sub(16))];
        let bias = if epi.bias.is_null() {
            [_mm512_setzero_ps(); 2]
        } else {
            // SAFETY: masked loads read only the first `ncols` floats
            // (valid: this function's contract); masked-off lanes never
            // fault, and `wrapping_add` forms the second half's address
            // without a claim that it is in bounds.
            unsafe {
                [
                    _mm512_maskz_loadu_ps(mask[0], epi.bias),
                    _mm512_maskz_loadu_ps(mask[1], epi.bias.wrapping_add(16)),
                ]
            }
        };
        let (shape, single) = EpiShape::of(epi);
        ClampRegs {
            bias,
            shape,
            single: [_mm512_set1_ps(single.0), _mm512_set1_ps(single.1)],
            bounds: [
                _mm512_set1_ps(epi.act.0),
                _mm512_set1_ps(epi.act.1),
                _mm512_set1_ps(epi.post.0),
                _mm512_set1_ps(epi.post.1),
            ],
            mask,
            accumulate: epi.accumulate,
        }
    }

    /// [`store`](Self::store) for the [`EpiShape::Bias`] (`CLAMP` false)
    /// and [`EpiShape::BiasClamp`] (`CLAMP` true) epilogues: the same
    /// floats, NaN and signed zeros included (a clamp to `-inf..inf`
    /// returns its operand).
    ///
    /// # Safety
    /// AVX-512F; `out` valid for the row's `ncols` writes.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    #[inline]
    unsafe fn store_plain<const CLAMP: bool>(&self, out: *mut f32, h: usize, sum: __m512) {
        let [lo, hi] = self.single;
        let mut v = _mm512_add_ps(sum, self.bias[h]);
        if CLAMP {
            v = _mm512_min_ps(hi, _mm512_max_ps(lo, v));
        }
        // SAFETY: the masked store touches only lanes below `ncols` of this
        // half, inside the row (this function's contract); masked-off lanes
        // never fault.
        unsafe { _mm512_mask_storeu_ps(out.wrapping_add(16 * h), self.mask[h], v) }
    }

    /// Half `h` of a row: `sum + bias`, clamped, plus the old output
    /// (`accumulate`) and the residual row (unless null), clamped, stored to
    /// `out + 16h` under the half's mask. `max(bound, x)` and `min(bound, x)` return `x`
    /// when it is NaN (the second operand), as relu and relu6 do.
    ///
    /// # Safety
    /// AVX-512F; `out` valid for the row's `ncols` reads and writes,
    /// `residual` null or valid for `ncols` reads.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    #[inline]
    unsafe fn store(&self, out: *mut f32, residual: *const f32, h: usize, sum: __m512) {
        let [lo, hi, post_lo, post_hi] = self.bounds;
        let at = out.wrapping_add(16 * h);
        let v = _mm512_add_ps(sum, self.bias[h]);
        let mut v = _mm512_min_ps(hi, _mm512_max_ps(lo, v));
        // SAFETY: masked loads and the masked store touch only lanes below
        // `ncols` of this half, inside the rows (this function's
        // contract); masked-off lanes never fault.
        unsafe {
            if self.accumulate {
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(self.mask[h], at));
            }
            if !residual.is_null() {
                let r = _mm512_maskz_loadu_ps(self.mask[h], residual.wrapping_add(16 * h));
                v = _mm512_add_ps(v, r);
            }
            let v = _mm512_min_ps(post_hi, _mm512_max_ps(post_lo, v));
            _mm512_mask_storeu_ps(at, self.mask[h], v)
        }
    }
}

impl EpiShape {
    /// The shape of `epi`'s epilogue, and the bounds of a
    /// [`BiasClamp`](EpiShape::BiasClamp)'s clamp.
    fn of<const MR: usize>(epi: &Clamped<MR>) -> (EpiShape, (f32, f32)) {
        const NONE: (f32, f32) = (f32::NEG_INFINITY, f32::INFINITY);
        match epi.one_clamp() {
            Some(bounds) if bounds == NONE => (EpiShape::Bias, NONE),
            Some(bounds) => (EpiShape::BiasClamp, bounds),
            None => (EpiShape::Full, NONE),
        }
    }
}

/// `MR` (8, or 7) pixels x two panels (32 filters): `2 * MR` `zmm`
/// accumulators.
struct Wide<const MR: usize>;

impl<const MR: usize> Kernel<MR, 32, 8, 12288> for Wide<MR> {
    const KC: usize = 160;

    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    #[inline]
    unsafe fn tile(
        srcs: &[[*const f32; MR]],
        c_off: usize,
        cin: usize,
        b: *const f32,
        tap_stride: usize,
        panel_stride: usize,
        out: &mut [[f32; 32]; MR],
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for (a, o) in acc.iter_mut().zip(out.iter()) {
            // SAFETY: each row holds 32 floats: two 16-float loads.
            *a = unsafe {
                [
                    _mm512_loadu_ps(o.as_ptr()),
                    _mm512_loadu_ps(o.as_ptr().add(16)),
                ]
            };
        }
        // SAFETY: this function's contract.
        unsafe { wide_sums(srcs, c_off, cin, b, tap_stride, panel_stride, &mut acc) };
        for (o, a) in out.iter_mut().zip(&acc) {
            // SAFETY: each output row holds 32 floats: two 16-float stores.
            unsafe {
                _mm512_storeu_ps(o.as_mut_ptr(), a[0]);
                _mm512_storeu_ps(o.as_mut_ptr().add(16), a[1]);
            }
        }
    }

    const CLAMPED: bool = true;

    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    #[inline]
    unsafe fn tile_clamped(
        srcs: &[[*const f32; MR]],
        cin: usize,
        b: *const f32,
        tap_stride: usize,
        panel_stride: usize,
        epi: &Clamped<MR>,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        // SAFETY: this function's contract.
        unsafe { wide_sums(srcs, 0, cin, b, tap_stride, panel_stride, &mut acc) };
        // SAFETY: `epi.bias` is null or holds `ncols` floats (this
        // function's contract).
        let e = unsafe { ClampRegs::new(epi) };
        // As in `Narrow::tile_clamped`. SAFETY (of each store): `epi.out[m]`
        // is valid for `ncols <= 32` writes (this function's contract), the
        // masks cover `ncols`, `epi.residual[m]` is null or valid for
        // `ncols` reads.
        let rows = &acc[..epi.rows.min(MR)];
        match e.shape {
            EpiShape::Bias => {
                for (m, a) in rows.iter().enumerate() {
                    unsafe {
                        e.store_plain::<false>(epi.out[m], 0, a[0]);
                        e.store_plain::<false>(epi.out[m], 1, a[1]);
                    }
                }
            }
            EpiShape::BiasClamp => {
                for (m, a) in rows.iter().enumerate() {
                    unsafe {
                        e.store_plain::<true>(epi.out[m], 0, a[0]);
                        e.store_plain::<true>(epi.out[m], 1, a[1]);
                    }
                }
            }
            EpiShape::Full => {
                for (m, a) in rows.iter().enumerate() {
                    unsafe {
                        e.store(epi.out[m], epi.residual[m], 0, a[0]);
                        e.store(epi.out[m], epi.residual[m], 1, a[1]);
                    }
                }
            }
        }
    }
}

/// [`Wide`]'s multiply-adds, added to `acc`.
///
/// # Safety
/// As [`Kernel::tile`] for [`Wide`].
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
unsafe fn wide_sums<const MR: usize>(
    srcs: &[[*const f32; MR]],
    c_off: usize,
    cin: usize,
    b: *const f32,
    tap_stride: usize,
    panel_stride: usize,
    acc: &mut [[__m512; 2]; MR],
) {
    for (ti, s) in srcs.iter().enumerate() {
        // SAFETY: tap `ti`'s rows start `ti * tap_stride` floats into the panel.
        let mut bp = unsafe { b.add(ti * tap_stride) };
        let s = offset_all(s, c_off);
        for ci in 0..cin {
            // SAFETY: `bp` and `bp + panel_stride` stay within the two panels'
            // `srcs.len() * cin` rows; each `s[m]` (already offset by `c_off`)
            // is valid for `cin` reads.
            unsafe {
                let b0 = _mm512_loadu_ps(bp);
                let b1 = _mm512_loadu_ps(bp.add(panel_stride));
                bp = bp.add(PANEL);
                for m in 0..MR {
                    let a = _mm512_set1_ps(*s[m].add(ci));
                    acc[m][0] = _mm512_fmadd_ps(a, b0, acc[m][0]);
                    acc[m][1] = _mm512_fmadd_ps(a, b1, acc[m][1]);
                }
            }
        }
    }
}

/// The Winograd input transform, compiled for this ISA.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn winograd_input(job: &winograd::Job<'_>, tiles: (usize, usize)) {
    winograd::input_part(job, tiles)
}

/// The Winograd products and output transform on the 8 x 32 tile.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn winograd_products(job: &winograd::Job<'_>, part: winograd::Part) {
    // SAFETY: the CPU supports this ISA (this function's contract).
    unsafe { winograd::products_part(Wide::<8>, job, part) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Hwc;

    fn g(h: usize, w: usize, filters: usize) -> Conv2dGeom {
        Conv2dGeom {
            input: Hwc { h, w, c: 64 },
            output: Hwc { h, w, c: filters },
            kernel: (1, 1),
            strides: (1, 1),
            dilation: (1, 1),
            pad: (0, 0),
            groups: 1,
            activation: crate::Activation::Linear,
            upsample: (1, 1),
        }
    }

    /// 7-pixel tiles where they compute fewer padding rows than 8-pixel
    /// ones (7x7: 49 rows against 56; 14x14: 196 against 200), the 8-pixel
    /// tile where 8 divides as well (28x28, 56x56) or better (4x4).
    #[test]
    fn seven_pixel_tiles_where_they_pad_less() {
        assert_eq!(pick(&g(7, 7, 320)), Pick::Wide7);
        assert_eq!(pick(&g(14, 14, 64)), Pick::Wide7);
        assert_eq!(pick(&g(28, 28, 64)), Pick::Wide);
        assert_eq!(pick(&g(56, 56, 64)), Pick::Wide);
        assert_eq!(pick(&g(4, 4, 64)), Pick::Wide);
        assert_eq!(pick(&g(7, 7, 16)), Pick::Narrow);
        assert_eq!(pick(&g(7, 7, 3)), Pick::Lanes);
        assert_eq!(pick(&g(7, 7, 5)), Pick::Avx2Narrow);
    }
}
