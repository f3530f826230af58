//! AVX2 + FMA tile kernels: 6 pixels x 16 filters (one panel), 12 `ymm`
//! accumulators; and 12 pixels x 8 filters for layers with at most 8 filters
//! per group (an RGB head, a depthwise conv), where half a panel is padding.

use super::driver::{blocking, drive, offset_all, Clamped, Kernel};
use super::{ConvArgs, IsaKernels, Part, PANEL};
use crate::winograd;
use core::arch::x86_64::*;

pub(super) const KERNELS: IsaKernels = IsaKernels {
    conv,
    blocking: |g| {
        if g.output.c / g.groups <= 8 {
            blocking(&Narrow)
        } else {
            blocking(&Tile6x16)
        }
    },
    winograd_input,
    winograd_products,
};

/// # Safety
/// The CPU must support AVX2 and FMA; [`drive`]'s preconditions.
#[target_feature(enable = "avx2,fma")]
unsafe fn conv(a: &ConvArgs<'_>, part: Part) {
    // SAFETY: this function's contract.
    unsafe {
        if a.g.output.c / a.g.groups <= 8 {
            drive(Narrow, a, part)
        } else {
            drive(Tile6x16, a, part)
        }
    }
}

/// 12 pixels x the first 8 filters of a panel (the rest is padding when a
/// group has at most 8 filters): one `ymm` accumulator per pixel.
pub(super) struct Narrow;

impl Kernel<12, 8, 8, 12288> for Narrow {
    const KC: usize = 512;

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile(
        srcs: &[[*const f32; 12]],
        c_off: usize,
        cin: usize,
        b: *const f32,
        tap_stride: usize,
        _panel_stride: usize,
        out: &mut [[f32; 8]; 12],
    ) {
        let mut acc = [_mm256_setzero_ps(); 12];
        for (a, o) in acc.iter_mut().zip(out.iter()) {
            // SAFETY: each row holds 8 floats: one load.
            *a = unsafe { _mm256_loadu_ps(o.as_ptr()) };
        }
        // SAFETY: this function's contract.
        unsafe { narrow_sums(srcs, c_off, cin, b, tap_stride, &mut acc) };
        for (o, a) in out.iter_mut().zip(&acc) {
            // SAFETY: each output row holds 8 floats: one store.
            unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *a) };
        }
    }

    const CLAMPED: bool = true;

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile_clamped(
        srcs: &[[*const f32; 12]],
        cin: usize,
        b: *const f32,
        tap_stride: usize,
        _panel_stride: usize,
        epi: &Clamped<12>,
    ) {
        let mut acc = [_mm256_setzero_ps(); 12];
        // SAFETY: this function's contract.
        unsafe { narrow_sums(srcs, 0, cin, b, tap_stride, &mut acc) };
        // SAFETY: `epi.bias` is null or holds `ncols` floats (this
        // function's contract).
        let e = unsafe { ClampRegs::new(epi) };
        for (m, a) in acc.iter().enumerate() {
            if m < epi.rows {
                // SAFETY: `epi.out[m]` is valid for `ncols <= 8` writes
                // (this function's contract).
                unsafe { e.store(epi.out[m], epi.residual[m], 0, *a) };
            }
        }
    }
}

/// [`Narrow`]'s multiply-adds, added to `acc`.
///
/// # Safety
/// As [`Kernel::tile`] for [`Narrow`].
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn narrow_sums(
    srcs: &[[*const f32; 12]],
    c_off: usize,
    cin: usize,
    b: *const f32,
    tap_stride: usize,
    acc: &mut [__m256; 12],
) {
    for (ti, s) in srcs.iter().enumerate() {
        // SAFETY: tap `ti`'s rows start `ti * tap_stride` floats into the panel.
        let mut bp = unsafe { b.add(ti * tap_stride) };
        let s = offset_all(s, c_off);
        for ci in 0..cin {
            // SAFETY: `bp` stays within the panel's `srcs.len() * cin` rows
            // (8 of each row's 16 floats are read); each `s[m]` is valid for
            // `cin` reads.
            unsafe {
                let b0 = _mm256_loadu_ps(bp);
                bp = bp.add(PANEL);
                for m in 0..12 {
                    let a = _mm256_set1_ps(*s[m].add(ci));
                    acc[m] = _mm256_fmadd_ps(a, b0, acc[m]);
                }
            }
        }
    }
}

/// A [`Clamped`] epilogue in registers: the bias, both clamps' bounds and
/// the load masks of a row's 8-float parts (AVX2 has no mask registers:
/// `vmaskmovps` lanes, all set for a whole part), and how many of each
/// part's floats are the row's.
struct ClampRegs {
    bias: [__m256; 2],
    bounds: [__m256; 4],
    mask: [__m256i; 2],
    part: [usize; 2],
    accumulate: bool,
}

impl ClampRegs {
    /// # Safety
    /// AVX2 and FMA; `epi.bias` null or valid for `epi.ncols <= 16` reads.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn new<const MR: usize>(epi: &Clamped<MR>) -> ClampRegs {
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let part = |h: usize| epi.ncols.saturating_sub(8 * h).min(8);
        let mask = [
            _mm256_cmpgt_epi32(_mm256_set1_epi32(part(0) as i32), lane),
            _mm256_cmpgt_epi32(_mm256_set1_epi32(part(1) as i32), lane),
        ];
        let bias = if epi.bias.is_null() {
            [_mm256_setzero_ps(); 2]
        } else {
            // SAFETY: masked loads read only the first `ncols` floats
            // (valid: this function's contract); masked-off lanes never
            // fault, and `wrapping_add` forms the second part's address
            // without a claim that it is in bounds.
            unsafe {
                [
                    _mm256_maskload_ps(epi.bias, mask[0]),
                    _mm256_maskload_ps(epi.bias.wrapping_add(8), mask[1]),
                ]
            }
        };
        ClampRegs {
            bias,
            bounds: [
                _mm256_set1_ps(epi.act.0),
                _mm256_set1_ps(epi.act.1),
                _mm256_set1_ps(epi.post.0),
                _mm256_set1_ps(epi.post.1),
            ],
            mask,
            part: [part(0), part(1)],
            accumulate: epi.accumulate,
        }
    }

    /// Part `h` of a row: `sum + bias`, clamped, plus the old output
    /// (`accumulate`) and the residual row (unless null), clamped, stored to
    /// `out + 8h`; nothing at all for a part past the row's end (the second
    /// half of the last panel of 24 filters, which stored through an
    /// all-zero mask). A part of 1-7 floats goes through a stack copy:
    /// `vmaskmovps` stores are microcoded on AMD (in `max_pool2d`, where the
    /// compiler had made one per 8 channels and window cell, they were
    /// three quarters of its time on Zen 3, `perf annotate`). `max(bound, x)` and
    /// `min(bound, x)` return `x` when it is NaN (the second operand), as
    /// relu and relu6 do.
    ///
    /// # Safety
    /// AVX2; `out` valid for the row's `ncols` reads and writes, `residual`
    /// null or valid for `ncols` reads.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store(&self, out: *mut f32, residual: *const f32, h: usize, sum: __m256) {
        let n = self.part[h];
        if n == 0 {
            return;
        }
        let [lo, hi, post_lo, post_hi] = self.bounds;
        let at = out.wrapping_add(8 * h);
        let v = _mm256_add_ps(sum, self.bias[h]);
        let mut v = _mm256_min_ps(hi, _mm256_max_ps(lo, v));
        // SAFETY: masked loads touch only the part's lanes below `ncols`,
        // inside the rows (this function's contract); masked-off lanes never
        // fault. The stores write the part's `n` floats, inside the row: a
        // whole part is 8.
        unsafe {
            if self.accumulate {
                v = _mm256_add_ps(v, _mm256_maskload_ps(at, self.mask[h]));
            }
            if !residual.is_null() {
                let r = _mm256_maskload_ps(residual.wrapping_add(8 * h), self.mask[h]);
                v = _mm256_add_ps(v, r);
            }
            let v = _mm256_min_ps(post_hi, _mm256_max_ps(post_lo, v));
            if n == 8 {
                _mm256_storeu_ps(at, v)
            } else {
                let mut part = [0.0f32; 8];
                _mm256_storeu_ps(part.as_mut_ptr(), v);
                core::ptr::copy_nonoverlapping(part.as_ptr(), at, n);
            }
        }
    }
}

/// 6 pixels x one panel of 16 filters: 12 `ymm` accumulators.
struct Tile6x16;

impl Kernel<6, 16, 16, 12288> for Tile6x16 {
    const KC: usize = 512;

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile(
        srcs: &[[*const f32; 6]],
        c_off: usize,
        cin: usize,
        b: *const f32,
        tap_stride: usize,
        _panel_stride: usize,
        out: &mut [[f32; 16]; 6],
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; 6];
        for (a, o) in acc.iter_mut().zip(out.iter()) {
            // SAFETY: each row holds 16 floats: two 8-float loads.
            *a = unsafe {
                [
                    _mm256_loadu_ps(o.as_ptr()),
                    _mm256_loadu_ps(o.as_ptr().add(8)),
                ]
            };
        }
        // SAFETY: this function's contract.
        unsafe { six_sums(srcs, c_off, cin, b, tap_stride, &mut acc) };
        for (o, a) in out.iter_mut().zip(&acc) {
            // SAFETY: each output row holds 16 floats: two 8-float stores.
            unsafe {
                _mm256_storeu_ps(o.as_mut_ptr(), a[0]);
                _mm256_storeu_ps(o.as_mut_ptr().add(8), a[1]);
            }
        }
    }

    const CLAMPED: bool = true;

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile_clamped(
        srcs: &[[*const f32; 6]],
        cin: usize,
        b: *const f32,
        tap_stride: usize,
        _panel_stride: usize,
        epi: &Clamped<6>,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; 6];
        // SAFETY: this function's contract.
        unsafe { six_sums(srcs, 0, cin, b, tap_stride, &mut acc) };
        if let Some((lo, hi)) = whole_tile_clamp(epi) {
            // SAFETY: a whole tile: `epi.bias` null or valid for 16 reads,
            // each `epi.out[m]` for 16 writes (this function's contract).
            unsafe { store_whole(epi, &acc, lo, hi) };
            return;
        }
        // SAFETY: `epi.bias` is null or holds `ncols` floats (this
        // function's contract).
        let e = unsafe { ClampRegs::new(epi) };
        for (m, a) in acc.iter().enumerate() {
            if m < epi.rows {
                // SAFETY: `epi.out[m]` is valid for `ncols <= 16` writes
                // (this function's contract).
                unsafe {
                    e.store(epi.out[m], epi.residual[m], 0, a[0]);
                    e.store(epi.out[m], epi.residual[m], 1, a[1]);
                }
            }
        }
    }
}

/// A whole [`Tile6x16`] tile's one clamp ([`Clamped::one_clamp`]), when
/// it has one.
#[inline(always)]
fn whole_tile_clamp(epi: &Clamped<6>) -> Option<(f32, f32)> {
    if epi.rows == 6 && epi.ncols == 16 {
        epi.one_clamp()
    } else {
        None
    }
}

/// `acc + bias` clamped to `lo..=hi`, stored to a whole tile's rows.
///
/// # Safety
/// AVX2; `epi.bias` null or valid for 16 reads; `epi.out[m]` valid for 16
/// writes for each of the 6 rows.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store_whole(epi: &Clamped<6>, acc: &[[__m256; 2]; 6], lo: f32, hi: f32) {
    let bias = if epi.bias.is_null() {
        [_mm256_setzero_ps(); 2]
    } else {
        // SAFETY: `epi.bias` holds 16 floats (this function's contract).
        unsafe { [_mm256_loadu_ps(epi.bias), _mm256_loadu_ps(epi.bias.add(8))] }
    };
    let (lo, hi) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
    for (a, &out) in acc.iter().zip(&epi.out) {
        for (h, (a, b)) in a.iter().zip(&bias).enumerate() {
            // `max(lo, x)` and `min(hi, x)` return `x` when it is NaN.
            let v = _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(*a, *b)));
            // SAFETY: `out` holds 16 floats (this function's contract).
            unsafe { _mm256_storeu_ps(out.add(8 * h), v) };
        }
    }
}

/// [`Tile6x16`]'s multiply-adds, added to `acc`.
///
/// # Safety
/// As [`Kernel::tile`] for [`Tile6x16`].
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn six_sums(
    srcs: &[[*const f32; 6]],
    c_off: usize,
    cin: usize,
    b: *const f32,
    tap_stride: usize,
    acc: &mut [[__m256; 2]; 6],
) {
    for (ti, s) in srcs.iter().enumerate() {
        // SAFETY: tap `ti`'s rows start `ti * tap_stride` floats into the panel.
        let mut bp = unsafe { b.add(ti * tap_stride) };
        let s = offset_all(s, c_off);
        for ci in 0..cin {
            // SAFETY: `bp` stays within the panel's `srcs.len() * cin` rows;
            // each `s[m]` (already offset by `c_off`) is valid for `cin` reads.
            unsafe {
                let b0 = _mm256_loadu_ps(bp);
                let b1 = _mm256_loadu_ps(bp.add(8));
                bp = bp.add(PANEL);
                for m in 0..6 {
                    let a = _mm256_set1_ps(*s[m].add(ci));
                    acc[m][0] = _mm256_fmadd_ps(a, b0, acc[m][0]);
                    acc[m][1] = _mm256_fmadd_ps(a, b1, acc[m][1]);
                }
            }
        }
    }
}

/// The Winograd input transform, compiled for this ISA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn winograd_input(job: &winograd::Job<'_>, tiles: (usize, usize)) {
    winograd::input_part(job, tiles)
}

/// The Winograd products and output transform on the 6 x 16 tile.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn winograd_products(job: &winograd::Job<'_>, part: winograd::Part) {
    // SAFETY: the CPU supports this ISA (this function's contract).
    unsafe { winograd::products_part(Tile6x16, job, part) }
}
