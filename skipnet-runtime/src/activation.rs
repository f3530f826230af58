//! Element-wise activations, applied in the epilogue of a layer or standalone.

/// An activation function with Keras semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// Identity (`activation = linear`, Keras' default).
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `x` if `x > 0`, else `exp(x) - 1` (alpha 1, Keras' `elu`).
    Elu,
    /// Keras 3's `relu6(x + 3) / 6`.
    HardSigmoid,
    /// `x * sigmoid(x)` (Keras' `swish` / `silu`).
    Swish,
    /// `0.5 x (1 + erf(x / sqrt 2))`: Keras' `gelu` default (`approximate=False`).
    Gelu,
    /// Keras 3's `hard_silu` (alias `hard_swish`): `x * hard_sigmoid(x)`,
    /// MobileNetV3's activation.
    HardSilu,
}

impl Activation {
    /// `Some((lo, hi))` when the activation is `x` limited to `lo..=hi`
    /// with NaN kept (linear, relu, relu6): what conv kernels compute in
    /// registers as `min(hi, max(lo, x))`.
    pub(crate) const fn clamp_bounds(self) -> Option<(f32, f32)> {
        match self {
            Activation::Linear => Some((f32::NEG_INFINITY, f32::INFINITY)),
            Activation::Relu => Some((0.0, f32::INFINITY)),
            Activation::Relu6 => Some((0.0, 6.0)),
            _ => None,
        }
    }

    /// Applies the activation to every element of `v` in place.
    ///
    /// The `match` is outside the loop so each arm is a tight, vectorizable loop.
    #[inline]
    pub fn apply(self, v: &mut [f32]) {
        match self {
            Activation::Linear => {}
            Activation::Relu => v.iter_mut().for_each(|x| *x = relu(*x)),
            Activation::Sigmoid | Activation::Swish | Activation::Gelu => self.apply_wide(v),
            Activation::Tanh => v.iter_mut().for_each(|x| *x = libm::tanhf(*x)),
            Activation::Relu6 => v.iter_mut().for_each(|x| *x = relu6(*x)),
            // `x <= 0` is false for NaN, which then passes through unchanged.
            Activation::Elu => v.iter_mut().for_each(|x| {
                if *x <= 0.0 {
                    *x = libm::expm1f(*x)
                }
            }),
            Activation::HardSigmoid => v.iter_mut().for_each(|x| *x = relu6(*x + 3.0) / 6.0),
            Activation::HardSilu => v.iter_mut().for_each(|x| *x *= relu6(*x + 3.0) / 6.0),
        }
    }
}

impl Activation {
    /// [`apply`](Self::apply) with the common cases (linear, relu, relu6, hard sigmoid, hard silu)
    /// inlined into
    /// the caller, so a kernel's epilogue compiled for AVX2 vectorizes them
    /// instead of calling out once per tile row; sigmoid, swish and gelu call
    /// [`apply_wide`](Self::apply_wide), the rest `apply`.
    /// Eight floats at a time through [`map_inline`](Self::map_inline) on a
    /// copy (the last few through a padded one): applied in place, relu's
    /// select became `vmaskmovps` stores of zeros (see `map_inline`), which
    /// AMD microcodes, in the epilogue of every conv of several passes.
    #[inline(always)]
    pub(crate) fn apply_inline(self, v: &mut [f32]) {
        if self == Activation::Linear {
            return;
        }
        if self.is_wide() {
            return self.apply_wide(v);
        }
        let mut chunks = v.chunks_exact_mut(8);
        for c in &mut chunks {
            let t: &[f32; 8] = (&*c).try_into().expect("chunks of 8");
            c.copy_from_slice(&self.map_inline(t));
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let mut t = [0.0f32; 8];
            t[..rest.len()].copy_from_slice(rest);
            let n = rest.len();
            rest.copy_from_slice(&self.map_inline(&t)[..n]);
        }
    }
}

impl Activation {
    /// [`apply_inline`](Self::apply_inline) on a whole array, returning a new
    /// one: every lane written unconditionally, so relu compiles to a compare
    /// and blend in registers. Applied in place, LLVM turns relu's
    /// `x = if x < 0 { 0 } else { x }` into a masked store of zeros, and the
    /// full-width load of the array that follows cannot be forwarded from a
    /// masked store: a stall per tile row that cost more than a 1x1 conv's
    /// multiply-adds.
    #[inline(always)]
    pub(crate) fn map_inline<const N: usize>(self, t: &[f32; N]) -> [f32; N] {
        // Each arm builds its own array (no shared mutable one): a shared
        // array that the out-of-line arm passes by reference lives on the
        // stack, and LLVM then merged the arms through it, reloading a
        // 64-byte vector over four 16-byte stores, a store-forwarding
        // stall per tile row (29% of a 16-filter 1x1 conv under `perf`).
        match self {
            Activation::Linear => *t,
            Activation::Relu => {
                let mut r = [0.0f32; N];
                for (r, &x) in r.iter_mut().zip(t) {
                    *r = relu(x);
                }
                r
            }
            Activation::Relu6 => {
                let mut r = [0.0f32; N];
                for (r, &x) in r.iter_mut().zip(t) {
                    *r = relu6(x);
                }
                r
            }
            Activation::HardSigmoid => {
                let mut r = [0.0f32; N];
                for (r, &x) in r.iter_mut().zip(t) {
                    *r = relu6(x + 3.0) / 6.0;
                }
                r
            }
            Activation::HardSilu => {
                let mut r = [0.0f32; N];
                for (r, &x) in r.iter_mut().zip(t) {
                    *r = x * (relu6(x + 3.0) / 6.0);
                }
                r
            }
            Activation::Sigmoid | Activation::Swish | Activation::Gelu => self.map_wide(t),
            other => other.mapped(t),
        }
    }

    /// The activations whose polynomials (exp, erf) are too big to inline
    /// into a kernel's loop: inlined, they made the loops around them
    /// spill (a 1x1 conv with relu 10% slower, a depthwise sweep's
    /// closure no longer inlined: 3x slower).
    #[inline(always)]
    pub(crate) const fn is_wide(self) -> bool {
        matches!(
            self,
            Activation::Sigmoid | Activation::Swish | Activation::Gelu
        )
    }

    /// [`map_inline`](Self::map_inline) of a wide activation
    /// ([`is_wide`](Self::is_wide)), out of line and vectorized for the
    /// widest ISA this CPU has. With AVX2 or AVX-512 (both imply FMA) the
    /// polynomials' multiply-adds are fused (`FUSED`): a third fewer
    /// instructions (swish 0.43 -> 0.30 ns per float on Zen 4) and each
    /// within the same error bounds (the tests sweep both). Elsewhere they
    /// are a multiply and an add (NEON, Cortex-M, x86 without AVX2: a
    /// software `fmaf` would cost more than the whole polynomial), so the
    /// floats may differ from x86's by an ulp; every caller on one machine
    /// (`apply`, the kernels' epilogues, any ISA's kernel) gets the same.
    #[inline(never)]
    fn map_wide<const N: usize>(self, t: &[f32; N]) -> [f32; N] {
        #[cfg(target_arch = "x86_64")]
        match crate::igemm::Isa::detect() {
            // SAFETY: the CPU has AVX-512F (`detect`).
            crate::igemm::Isa::Avx512 => return unsafe { wide::map_avx512(self, t) },
            // SAFETY: the CPU has AVX2 (`detect`).
            crate::igemm::Isa::Avx2Fma => return unsafe { wide::map_avx2(self, t) },
            _ => {}
        }
        self.map_wide_inline::<false, N>(t)
    }

    /// [`apply_inline`](Self::apply_inline) of a wide activation on a
    /// whole slice, as [`map_wide`](Self::map_wide).
    #[inline(never)]
    pub(crate) fn apply_wide(self, v: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        match crate::igemm::Isa::detect() {
            // SAFETY: the CPU has AVX-512F (`detect`).
            crate::igemm::Isa::Avx512 => return unsafe { wide::apply_avx512(self, v) },
            // SAFETY: the CPU has AVX2 (`detect`).
            crate::igemm::Isa::Avx2Fma => return unsafe { wide::apply_avx2(self, v) },
            _ => {}
        }
        self.apply_wide_inline::<false>(v)
    }

    /// [`apply_wide`](Self::apply_wide)'s loop: 16 floats at a time.
    #[inline(always)]
    fn apply_wide_inline<const FUSED: bool>(self, v: &mut [f32]) {
        let mut chunks = v.chunks_exact_mut(16);
        for c in &mut chunks {
            let t: &[f32; 16] = (&*c).try_into().expect("chunks of 16");
            c.copy_from_slice(&self.map_wide_inline::<FUSED, 16>(t));
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let mut t = [0.0f32; 16];
            t[..rest.len()].copy_from_slice(rest);
            let n = rest.len();
            rest.copy_from_slice(&self.map_wide_inline::<FUSED, 16>(&t)[..n]);
        }
    }

    /// The wide activations' arms, inlined into [`map_wide`](Self::map_wide)'s
    /// per-ISA copies.
    #[inline(always)]
    fn map_wide_inline<const FUSED: bool, const N: usize>(self, t: &[f32; N]) -> [f32; N] {
        match self {
            Activation::Sigmoid => {
                let mut r = [0.0f32; N];
                for (r, &x) in r.iter_mut().zip(t) {
                    *r = sigmoid::<FUSED>(x);
                }
                r
            }
            Activation::Swish => {
                let mut r = [0.0f32; N];
                for (r, &x) in r.iter_mut().zip(t) {
                    *r = x * sigmoid::<FUSED>(x);
                }
                r
            }
            Activation::Gelu => {
                let mut r = [0.0f32; N];
                for (r, &x) in r.iter_mut().zip(t) {
                    *r = gelu::<FUSED>(x);
                }
                r
            }
            other => other.mapped(t),
        }
    }

    /// [`apply`](Self::apply) on a copy of `t`, out of line (the
    /// activations that are not inlined).
    #[inline(never)]
    fn mapped<const N: usize>(self, t: &[f32; N]) -> [f32; N] {
        let mut r = *t;
        self.apply(&mut r);
        r
    }
}

/// [`Activation::map_wide`] and [`Activation::apply_wide`] compiled for
/// each x86 ISA.
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::Activation;

    /// # Safety
    /// The CPU must have AVX-512F and FMA.
    #[target_feature(enable = "avx512f,fma")]
    pub(super) unsafe fn map_avx512<const N: usize>(a: Activation, t: &[f32; N]) -> [f32; N] {
        a.map_wide_inline::<true, N>(t)
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn map_avx2<const N: usize>(a: Activation, t: &[f32; N]) -> [f32; N] {
        a.map_wide_inline::<true, N>(t)
    }

    /// # Safety
    /// The CPU must have AVX-512F and FMA.
    #[target_feature(enable = "avx512f,fma")]
    pub(super) unsafe fn apply_avx512(a: Activation, v: &mut [f32]) {
        a.apply_wide_inline::<true>(v)
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn apply_avx2(a: Activation, v: &mut [f32]) {
        a.apply_wide_inline::<true>(v)
    }
}

#[inline(always)]
fn relu(x: f32) -> f32 {
    // `max` maps NaN to 0; Keras (TF) propagates NaN, so compare explicitly.
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

#[inline(always)]
fn relu6(x: f32) -> f32 {
    // `clamp` propagates NaN, as TF does.
    x.clamp(0.0, 6.0)
}

/// `1 / (1 + exp(-x))` through [`exp_in_range`]: straight-line arithmetic
/// that LLVM vectorizes in the kernels' epilogues (a `libm::expf` call per
/// element made EfficientNet's swish convs run at 3 GMAC/s).
#[inline(always)]
fn sigmoid<const FUSED: bool>(x: f32) -> f32 {
    let e = exp_in_range::<FUSED>(-x);
    // Above the range `exp(-x)` is infinite and the sigmoid 0 (it is at
    // most 5e-39 there); a select, so it stays vectorized. NaN compares
    // false and passes through `e`.
    let e = if -x > EXP_HI { f32::INFINITY } else { e };
    1.0 / (1.0 + e)
}

/// Keras's exact `gelu`, `0.5 x (1 + erf(x / sqrt 2))`, through
/// [`erf_rational`]: vectorizable, where `libm::erff` was a call per
/// element (about half of a ConvNeXt block's time).
#[inline(always)]
fn gelu<const FUSED: bool>(x: f32) -> f32 {
    0.5 * x * (1.0 + erf_rational::<FUSED>(x * core::f32::consts::FRAC_1_SQRT_2))
}

/// `a * b + c`, rounded once when `FUSED` (an FMA), else twice.
///
/// `FUSED` is only instantiated by [`wide`]'s functions, compiled with
/// `fma` enabled and called only on CPUs that have it (`Isa::detect`).
#[inline(always)]
fn mul_add<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if FUSED {
        use core::arch::x86_64::{_mm_cvtss_f32, _mm_fmadd_ss, _mm_set_ss};
        // SAFETY: `FUSED` code runs only where the CPU has FMA (above);
        // the scalar intrinsics touch no memory. LLVM vectorizes the loops
        // around them into `vfmadd` of whole registers.
        return unsafe { _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c))) };
    }
    a * b + c
}

/// `erf(x)` as the ratio of an odd degree-13 and an even degree-8
/// polynomial on `x` clamped to [-4, 4] (`erf(4)` rounds to 1 in float32):
/// the rational approximation of Eigen's float `erf`
/// (`generic_fast_erf_float`), within 4.3e-7 of the exact value (the `erf_rational_is_within_5e_7`
/// test). NaN gives NaN.
#[inline(always)]
pub(crate) fn erf_rational<const FUSED: bool>(x: f32) -> f32 {
    // Eigen's coefficients, highest degree first (rounded to float32 once).
    const P: [f64; 7] = [
        -2.72614225801306e-10,
        2.77068142495902e-08,
        -2.10102402082508e-06,
        -5.69250639462346e-05,
        -7.34990630326855e-04,
        -2.95459980854025e-03,
        -1.60960333262415e-02,
    ];
    const Q: [f64; 5] = [
        -1.45660718464996e-05,
        -2.13374055278905e-04,
        -1.68282697438203e-03,
        -7.37332916720468e-03,
        -1.42647390514189e-02,
    ];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = P[0] as f32;
    for c in &P[1..] {
        p = mul_add::<FUSED>(p, x2, *c as f32);
    }
    let mut q = Q[0] as f32;
    for c in &Q[1..] {
        q = mul_add::<FUSED>(q, x2, *c as f32);
    }
    x * p / q
}

/// The largest argument [`exp_in_range`] computes: `2^n` for its rounded
/// `n <= 127` stays a normal float.
const EXP_HI: f32 = 88.3;
/// The smallest: `2^n` for `n >= -126` stays normal; below, `exp` is
/// subnormal (< 1.2e-38) and taken as 0.
const EXP_LO: f32 = -87.3;

/// `exp(x)` for `EXP_LO <= x <= EXP_HI` within 2 ulp of the exact value
/// (the `exp_in_range_is_within_2_ulp` test sweeps it against `libm`);
/// `x` is clamped to that range outside it (callers select the limits),
/// and NaN gives NaN. Cephes' `expf`: `x = n ln 2 + r` with
/// `|r| <= ln 2 / 2` (`ln 2` in two parts so `n ln 2` is exact), a degree-7
/// polynomial for `exp(r)`, and `2^n` built in the exponent bits. No
/// branch, table or call, so a loop over it vectorizes.
#[inline(always)]
pub(crate) fn exp_in_range<const FUSED: bool>(x: f32) -> f32 {
    // Adding 1.5 * 2^23 rounds to an integer (to nearest, the default
    // mode), which sits in the low mantissa bits of the sum.
    const ROUND: f32 = 12_582_912.0;
    // 0.693359375 = 355 / 512 exactly: `n * LN2_HI` is exact for |n| <= 128.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(EXP_LO, EXP_HI);
    let t = mul_add::<FUSED>(x, core::f32::consts::LOG2_E, ROUND);
    let n = t - ROUND;
    let r = mul_add::<FUSED>(n, -LN2_LO, mul_add::<FUSED>(n, -LN2_HI, x));
    let mut p = 1.987_569_1e-4_f32;
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ] {
        p = mul_add::<FUSED>(p, r, c);
    }
    let p = mul_add::<FUSED>(p, r * r, r) + 1.0;
    // `t`'s bits minus `ROUND`'s are `n` (both in [2^23, 2^24)): the
    // exponent field of `2^n` is `n + 127`, in 1..=254 for the range.
    let n_bits = t.to_bits().wrapping_sub(ROUND.to_bits());
    p * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_values() {
        let mut v = [-2.0, -0.0, 0.5, 3.0];
        Activation::Relu.apply(&mut v);
        assert_eq!(v, [0.0, -0.0, 0.5, 3.0]);

        let mut v = [0.0, 2.0, -2.0];
        Activation::Sigmoid.apply(&mut v);
        assert_eq!(v[0], 0.5);
        assert!((v[1] - 0.880_797_1).abs() < 1e-6);
        assert!((v[2] - 0.119_202_92).abs() < 1e-6);

        let mut v = [0.0, 1.0, -20.0];
        Activation::Tanh.apply(&mut v);
        assert_eq!(v[0], 0.0);
        assert!((v[1] - 0.761_594_2).abs() < 1e-6);
        assert_eq!(v[2], -1.0);

        let mut v = [1.5, -1.5];
        Activation::Linear.apply(&mut v);
        assert_eq!(v, [1.5, -1.5]);
    }

    #[test]
    fn keras_3_values() {
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        let mut v = [-1.0, 3.0, 7.0];
        Activation::Relu6.apply(&mut v);
        assert_eq!(v, [0.0, 3.0, 6.0]);
        let mut v = [2.0, -1.0, 0.0];
        Activation::Elu.apply(&mut v);
        assert!(close(&v, &[2.0, -0.632_120_56, 0.0]), "{v:?}");
        let mut v = [-4.0, 0.0, 1.5, 4.0];
        Activation::HardSigmoid.apply(&mut v);
        assert!(close(&v, &[0.0, 0.5, 0.75, 1.0]), "{v:?}");
        let mut v = [1.0, -2.0];
        Activation::Swish.apply(&mut v);
        assert!(close(&v, &[0.731_058_6, -0.238_405_84]), "{v:?}");
        let mut v = [1.0, -0.5, 0.0];
        Activation::Gelu.apply(&mut v);
        assert!(close(&v, &[0.841_344_7, -0.154_268_08, 0.0]), "{v:?}");
        let mut v = [f32::NAN; 5];
        for a in [
            Activation::Relu6,
            Activation::Elu,
            Activation::HardSigmoid,
            Activation::Swish,
            Activation::Gelu,
        ] {
            a.apply(&mut v[..1]);
            assert!(v[0].is_nan(), "{a:?}");
        }
    }

    /// Distance in units in the last place between two finite floats of
    /// the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    /// Runs `$check::<false>()` (multiply-adds rounded twice, as on NEON
    /// and Cortex-M) and, where this CPU has FMA, `$check::<true>()` (as
    /// the AVX2 and AVX-512 epilogues compute).
    macro_rules! fused_and_not {
        ($check:ident) => {{
            $check::<false>();
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("fma") {
                $check::<true>();
            }
        }};
    }

    #[test]
    fn exp_in_range_is_within_2_ulp() {
        fused_and_not!(exp_in_range_check);
    }

    fn exp_in_range_check<const FUSED: bool>() {
        let exp_in_range = exp_in_range::<FUSED>;
        // Every 97th float of the range, both signs, against the exactly
        // rounded `exp` (f64 then rounded to f32).
        let mut worst = (0, 0.0f32);
        let mut checked = 0;
        for bits in (0..EXP_HI.to_bits()).step_by(97) {
            for x in [f32::from_bits(bits), -f32::from_bits(bits)] {
                if x < EXP_LO {
                    continue;
                }
                let want = (x as f64).exp() as f32;
                let d = ulps(exp_in_range(x), want);
                if d > worst.0 {
                    worst = (d, x);
                }
                checked += 1;
            }
        }
        assert!(checked > 20_000_000, "{checked}");
        assert!(
            worst.0 <= 2,
            "{} ulp at x = {:e} ({FUSED})",
            worst.0,
            worst.1
        );
        assert_eq!(exp_in_range(0.0), 1.0);
        assert!(exp_in_range(f32::NAN).is_nan());
    }

    #[test]
    fn erf_rational_is_within_5e_7() {
        fused_and_not!(erf_rational_check);
    }

    fn erf_rational_check<const FUSED: bool>() {
        let (erf_rational, gelu) = (erf_rational::<FUSED>, gelu::<FUSED>);
        let mut worst = (0.0f64, 0.0f32);
        for i in -600_000..=600_000 {
            let x = i as f32 * 1e-5;
            let d = (erf_rational(x) as f64 - libm::erf(x as f64)).abs();
            if d > worst.0 {
                worst = (d, x);
            }
        }
        assert!(
            worst.0 <= 5e-7,
            "{:e} at x = {} ({FUSED})",
            worst.0,
            worst.1
        );
        assert_eq!(erf_rational(0.0), 0.0);
        assert_eq!(erf_rational(9.0), 1.0);
        assert_eq!(erf_rational(f32::NEG_INFINITY), -1.0);
        assert!(erf_rational(f32::NAN).is_nan());
        // gelu against float64, absolute (its values are O(x)).
        for i in -2_000..=2_000 {
            let x = i as f32 / 100.0;
            let x64 = x as f64;
            let want = 0.5 * x64 * (1.0 + libm::erf(x64 / 2f64.sqrt()));
            let d = (gelu(x) as f64 - want).abs();
            assert!(d <= 4e-7 * (1.0 + x64.abs()), "gelu({x}) off by {d:e}");
        }
    }

    #[test]
    fn sigmoid_and_swish_keep_their_limits() {
        fused_and_not!(sigmoid_check);
        // Through `apply` (the widest ISA's copy here) and the inlined
        // (vectorized) path: the same floats.
        let t: [f32; 16] = core::array::from_fn(|i| (i as f32 - 8.0) * 3.7);
        for a in [Activation::Sigmoid, Activation::Swish, Activation::Gelu] {
            let mut want = t;
            a.apply(&mut want);
            assert_eq!(a.map_inline(&t), want, "{a:?}");
            let mut v = t;
            a.apply_inline(&mut v);
            assert_eq!(v, want, "{a:?}");
        }
        for i in -12_000..=12_000 {
            let x = i as f32 / 100.0;
            let want = x as f64 / (1.0 + (-(x as f64)).exp());
            let mut v = [x];
            Activation::Swish.apply(&mut v);
            assert!(
                (v[0] as f64 - want).abs() <= 4e-7 * want.abs() + 1e-34,
                "swish({x}) = {}, want {want}",
                v[0]
            );
        }
        let mut v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        Activation::Swish.apply(&mut v);
        assert!(v[0].is_nan());
        assert_eq!(v[1], f32::INFINITY);
        // -inf * sigmoid(-inf) = -inf * 0, as Keras computes it.
        assert!(v[2].is_nan());
    }

    fn sigmoid_check<const FUSED: bool>() {
        let sigmoid = sigmoid::<FUSED>;
        // Against f64 over a grid of [-120, 120], with the saturated ends.
        for i in -12_000..=12_000 {
            let x = i as f32 / 100.0;
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            let got = sigmoid(x) as f64;
            // Within a few ulp (2 of `exp`, the add and the division), and
            // absolutely where the exact value is below 1e-36
            // (`exp(-x)` past its range: the sigmoid is 0 there).
            assert!(
                (got - want).abs() <= 3e-7 * want + 1e-36,
                "sigmoid({x}) = {got}, want {want} ({FUSED})"
            );
            let swish = x * sigmoid(x);
            let want = x as f64 * want;
            assert!(
                (swish as f64 - want).abs() <= 4e-7 * want.abs() + 1e-34,
                "swish({x}) = {swish}, want {want} ({FUSED})"
            );
        }
        assert_eq!(sigmoid(-88.5), 0.0);
        assert_eq!(sigmoid(88.5), 1.0);
        assert!(sigmoid(f32::NAN).is_nan());
    }

    #[test]
    fn nan_propagates_and_inf_saturates() {
        let mut v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        Activation::Relu.apply(&mut v);
        assert!(v[0].is_nan());
        assert_eq!(v[1], f32::INFINITY);
        assert_eq!(v[2], 0.0);
        let mut v = [f32::INFINITY, f32::NEG_INFINITY];
        Activation::Sigmoid.apply(&mut v);
        assert_eq!(v, [1.0, 0.0]);
    }
}
