//! TFLite's integer arithmetic for int8 inference, written from its reference
//! code so that results match the TFLite interpreter bit for bit:
//! `QuantizeMultiplier` and `MultiplyByQuantizedMultiplier`
//! (tensorflow/lite/kernels/internal/quantization_util.cc, common.h), which
//! are gemmlowp's `SaturatingRoundingDoublingHighMul` followed by
//! `RoundingDivideByPOT` (TFLite's default build, not
//! `TFLITE_SINGLE_ROUNDING`), and `CalculateActivationRangeQuantized`
//! (kernel_util.cc).
//!
//! A real multiplier `M` (e.g. `input_scale * weight_scale / output_scale`)
//! is stored as a Q31 fraction in `[0.5, 1)` and a power of two:
//! `M = multiplier * 2^(shift - 31)`. A 32-bit accumulator `x` is rescaled
//! to `round(x * M)` in integers only (two roundings, half away from zero at
//! the second, as TFLite does).

use crate::Activation;

/// The int8 quantization of one tensor: `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantization {
    /// Positive and finite.
    pub scale: f32,
    /// In `[-128, 127]`.
    pub zero_point: i32,
}

impl Quantization {
    /// A scale and a zero point as a weight file stores them (both f32);
    /// `None` unless the scale is positive and finite and the zero point an
    /// integer in `[-128, 127]`.
    pub fn new(scale: f32, zero_point: f32) -> Option<Quantization> {
        let ok = scale.is_finite()
            && scale > 0.0
            && (-128.0..=127.0).contains(&zero_point)
            && zero_point == libm::truncf(zero_point);
        ok.then_some(Quantization {
            scale,
            zero_point: zero_point as i32,
        })
    }

    /// TFLite's QUANTIZE (its reference `AffineQuantize`): `round(x /
    /// scale)`, half away from zero, plus the zero point, saturated to int8.
    /// A NaN becomes the zero point.
    pub fn quantize(self, x: f32) -> i8 {
        let q = libm::roundf(x / self.scale) as i32;
        q.saturating_add(self.zero_point).clamp(-128, 127) as i8
    }

    /// TFLite's DEQUANTIZE: `scale * (q - zero_point)`.
    pub fn dequantize(self, q: i8) -> f32 {
        self.scale * (i32::from(q) - self.zero_point) as f32
    }
}

/// TFLite's int8 rule for an op that keeps its input's quantization
/// (concat, nearest resizing): operand `operand`'s quantization `q` must
/// equal operand `first`'s `q0`. The `Err` names the layer and both operands.
#[cfg(feature = "alloc")]
pub fn same_quantization(
    layer: &str,
    op: &str,
    (operand, q): (&str, Quantization),
    (first, q0): (&str, Quantization),
) -> Result<(), crate::Error> {
    if q == q0 {
        return Ok(());
    }
    Err(crate::Error::Quantization {
        reason: alloc::format!(
            "`{layer}` ({op}) keeps one quantization, but operand `{operand}` has scale {} and zero point {} where `{first}` has {} and {} (TFLite's int8 spec gives them one)",
            q.scale,
            q.zero_point,
            q0.scale,
            q0.zero_point
        ),
    })
}

/// `M` as TFLite stores it: `M ~= multiplier * 2^(shift - 31)`, with
/// `multiplier` in `[2^30, 2^31)` (or 0 for `M = 0` and for `M < 2^-31`,
/// which TFLite flushes to zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantizedMultiplier {
    /// The Q31 significand.
    pub multiplier: i32,
    /// The power of two (positive: a left shift before the multiply).
    pub shift: i32,
}

impl QuantizedMultiplier {
    /// TFLite's `QuantizeMultiplier(double, int32*, int*)`: `frexp`, the
    /// fraction rounded (half away from zero) to 31 bits, a fraction that
    /// rounds up to 1 halved, shifts below -31 flushed to zero.
    ///
    /// # Panics
    /// If `m` is negative, infinite or NaN (scales are positive and finite;
    /// the weight loader checks them before calling this).
    pub fn new(m: f64) -> QuantizedMultiplier {
        assert!(
            m.is_finite() && m >= 0.0,
            "quantized multiplier: {m} is not a finite non-negative scale"
        );
        if m == 0.0 {
            return QuantizedMultiplier {
                multiplier: 0,
                shift: 0,
            };
        }
        let (q, mut shift) = libm::frexp(m);
        let mut q_fixed = libm::round(q * (1u64 << 31) as f64) as i64;
        if q_fixed == 1 << 31 {
            q_fixed /= 2;
            shift += 1;
        }
        if shift < -31 {
            return QuantizedMultiplier {
                multiplier: 0,
                shift: 0,
            };
        }
        QuantizedMultiplier {
            multiplier: q_fixed as i32,
            shift,
        }
    }

    /// A conv's (or dense layer's) per-channel multiplier as TFLite's
    /// `PopulateConvolutionQuantizationParams` computes it: in double, from
    /// the float32 scales, `input * weight / output`.
    pub fn for_conv(input_scale: f32, weight_scale: f32, output_scale: f32) -> QuantizedMultiplier {
        QuantizedMultiplier::new(
            f64::from(input_scale) * f64::from(weight_scale) / f64::from(output_scale),
        )
    }

    /// TFLite's `MultiplyByQuantizedMultiplier(x, multiplier, shift)`:
    /// `x * 2^max(shift, 0)` (wrapping, as the C++ does in practice), the
    /// rounding doubling high multiply, then a rounding right shift by
    /// `max(-shift, 0)`.
    #[inline]
    pub fn apply(self, x: i32) -> i32 {
        let left = self.shift.max(0) as u32;
        let right = (-self.shift).max(0);
        rounding_divide_by_pot(
            saturating_rounding_doubling_high_mul(x.wrapping_shl(left), self.multiplier),
            right,
        )
    }
}

/// A conv output's whole requantization, prepared once per filter so that
/// the kernels' epilogue does only the arithmetic: the bias added, TFLite's
/// [`QuantizedMultiplier::apply`] (the rounding doubling high multiply as a
/// 64-bit product plus `2^30` shifted right by 31, which equals gemmlowp's
/// for every multiplier but `i32::MIN`, handled apart; the rounding shift
/// with its mask precomputed), the zero point added and the activation's
/// clamp. `repr(C)`: the Cortex-M epilogue (`qgemm`) loads the fields in
/// this order with one `ldm`.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Requantize {
    /// `bias * 2^left` (wrapping): `(acc + bias) << left` is
    /// `acc * 2^left + scaled_bias` modulo 2^32.
    scaled_bias: i32,
    /// `2^left`, wrapping (TFLite shifts left before the multiply).
    scale_up: i32,
    multiplier: i32,
    right: u32,
    mask: i32,
    zero_point: i32,
    lo: i32,
    hi: i32,
}

impl Requantize {
    /// For one filter: its bias, multiplier, the output zero point and the
    /// clamp (intersected with the int8 range).
    /// `const`: a baked network's epilogue is built at compile time.
    pub const fn new(
        bias: i32,
        m: QuantizedMultiplier,
        zero_point: i32,
        clamp: (i32, i32),
    ) -> Self {
        const fn within(v: i32, lo: i32, hi: i32) -> i32 {
            if v < lo {
                lo
            } else if v > hi {
                hi
            } else {
                v
            }
        }
        let right = within(-m.shift, 0, 31) as u32;
        let lo = within(clamp.0, -128, 127);
        // As `apply`'s `wrapping_shl` (the shift taken mod 32).
        let scale_up = if m.shift > 0 {
            1i32.wrapping_shl(m.shift as u32)
        } else {
            1
        };
        Requantize {
            scaled_bias: bias.wrapping_mul(scale_up),
            scale_up,
            multiplier: m.multiplier,
            right,
            mask: ((1i64 << right) - 1) as i32,
            zero_point,
            lo,
            hi: within(clamp.1, lo, 127),
        }
    }

    /// Whether the multiplier is `i32::MIN`, the one the 64-bit shortcut
    /// gets wrong (TFLite never makes it: its multipliers are positive).
    pub const fn multiplier_is_min(&self) -> bool {
        self.multiplier == i32::MIN
    }

    /// The int8 output of sum `acc`: bit for bit what
    /// `clamp(m.apply(acc + bias) + zero_point)` gives.
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> i8 {
        let x = acc
            .wrapping_mul(self.scale_up)
            .wrapping_add(self.scaled_bias);
        let y = if self.multiplier == i32::MIN && x == i32::MIN {
            i32::MAX
        } else {
            ((i64::from(x) * i64::from(self.multiplier) + (1 << 30)) >> 31) as i32
        };
        let threshold = (self.mask >> 1) + i32::from(y < 0);
        // `right <= 31` (`new`): the mask is a no-op, one instruction.
        let z = (y >> (self.right & 31)) + i32::from((y & self.mask) > threshold);
        let v = z.wrapping_add(self.zero_point);
        let v = if v < self.lo { self.lo } else { v };
        (if v > self.hi { self.hi } else { v }) as i8
    }
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: the high 32 bits of
/// `2 a b`, rounded to nearest with ties toward +infinity (what the nudge
/// and C++'s truncating division give: 0.5 -> 1 but -0.5 -> 0), saturated at `i32::MAX` for the one overflowing input
/// (`i32::MIN * i32::MIN`).
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // `/` on i64 truncates toward zero, as C++'s does.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest,
/// ties away from zero (`exponent` in `0..=31`).
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// The int8 output range of a fused activation on a tensor of `scale` and
/// `zero_point` (TFLite's `CalculateActivationRangeQuantized`): the whole
/// int8 range for linear, from the quantized 0 for relu, to the quantized 6
/// for relu6. `None` for an activation TFLite does not fuse into a conv.
pub fn activation_range(act: Activation, scale: f32, zero_point: i32) -> Option<(i32, i32)> {
    // TFLite quantizes the bounds in float: `zp + round(f / scale)`.
    let quantize = |f: f32| zero_point + libm::roundf(f / scale) as i32;
    let (lo, hi) = (i32::from(i8::MIN), i32::from(i8::MAX));
    match act {
        Activation::Linear => Some((lo, hi)),
        Activation::Relu => Some((lo.max(quantize(0.0)), hi)),
        Activation::Relu6 => Some((lo.max(quantize(0.0)), hi.min(quantize(6.0)))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_rounds_half_away_and_saturates() {
        let q = Quantization::new(0.5, -3.0).expect("valid");
        // 0.25 / 0.5 = 0.5 rounds away from zero to 1; -0.25 to -1.
        assert_eq!(q.quantize(0.25), -2);
        assert_eq!(q.quantize(-0.25), -4);
        assert_eq!(q.quantize(1e9), 127);
        assert_eq!(q.quantize(-1e9), -128);
        assert_eq!(q.quantize(f32::NAN), -3);
        assert_eq!(q.dequantize(-1), 1.0);
        for bad in [
            (0.0, 0.0),
            (-1.0, 0.0),
            (f32::NAN, 0.0),
            (1.0, 0.5),
            (1.0, 128.0),
        ] {
            assert!(Quantization::new(bad.0, bad.1).is_none(), "{bad:?}");
        }
    }

    /// `x * m * 2^(shift - 31)` rounded as TFLite's two steps round it, from
    /// exact 128-bit integers: the doubled product's high half to nearest
    /// with ties toward +infinity, then the right shift to nearest with
    /// ties away from zero.
    fn model(x: i32, q: QuantizedMultiplier) -> i32 {
        let left = q.shift.max(0);
        let right = (-q.shift).max(0);
        let xs = i128::from(x.wrapping_shl(left as u32));
        let ab = xs * i128::from(q.multiplier);
        let away = |n: i128, d: i128| {
            let (quot, rem) = (n / d, n % d);
            if 2 * rem.abs() >= d {
                quot + n.signum()
            } else {
                quot
            }
        };
        let high = (ab + (1 << 30)).div_euclid(1 << 31);
        let high = high.clamp(i128::from(i32::MIN), i128::from(i32::MAX));
        away(high, 1 << right) as i32
    }

    #[test]
    fn rounding_divide_rounds_half_away_from_zero() {
        for (x, e, want) in [
            (3, 1, 2),
            (-3, 1, -2),
            (5, 2, 1),
            (-5, 2, -1),
            (6, 2, 2),
            (-6, 2, -2),
            (-7, 2, -2),
            (7, 0, 7),
            (i32::MIN, 31, -1),
            (i32::MAX, 31, 1),
        ] {
            assert_eq!(rounding_divide_by_pot(x, e), want, "{x} / 2^{e}");
        }
    }

    #[test]
    fn doubling_high_mul_saturates_and_rounds() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        // 2 * 3 * 2^30 / 2^32 = 1.5 -> 2, but -1.5 -> -1 (ties toward +inf).
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
        assert_eq!(saturating_rounding_doubling_high_mul(-1, (1 << 30) + 1), -1);
    }

    #[test]
    fn quantize_multiplier_as_tflite() {
        let q = |m| QuantizedMultiplier::new(m);
        assert_eq!(
            q(0.0),
            QuantizedMultiplier {
                multiplier: 0,
                shift: 0
            }
        );
        assert_eq!(
            q(0.5),
            QuantizedMultiplier {
                multiplier: 1 << 30,
                shift: 0
            }
        );
        assert_eq!(
            q(1.0),
            QuantizedMultiplier {
                multiplier: 1 << 30,
                shift: 1
            }
        );
        assert_eq!(
            q(0.25),
            QuantizedMultiplier {
                multiplier: 1 << 30,
                shift: -1
            }
        );
        // A fraction that rounds up to 1 is halved.
        let almost_one = 1.0 - 1e-12;
        assert_eq!(
            q(almost_one),
            QuantizedMultiplier {
                multiplier: 1 << 30,
                shift: 1
            }
        );
        // Below 2^-31 (after normalisation) everything flushes to zero.
        assert_eq!(
            q(1e-12),
            QuantizedMultiplier {
                multiplier: 0,
                shift: 0
            }
        );
        let m = 0.000_123_45;
        let r = q(m);
        let back = f64::from(r.multiplier) * libm::pow(2.0, f64::from(r.shift - 31));
        assert!((back - m).abs() <= m * 1e-9, "{r:?}");
    }

    #[test]
    fn apply_matches_exact_integer_model() {
        let mut rng = crate::testing::SplitMix64(7);
        for _ in 0..20_000 {
            let m = libm::pow(2.0, -(rng.below(40) as f64))
                * (0.5 + rng.below(1 << 20) as f64 / (1 << 21) as f64);
            let q = QuantizedMultiplier::new(m);
            let x = rng.next_u64() as i32 >> rng.below(24);
            assert_eq!(q.apply(x), model(x, q), "x {x}, {q:?}");
        }
    }

    #[test]
    fn prepared_requantization_equals_apply_then_clamp() {
        let mut rng = crate::testing::SplitMix64(11);
        let edges = [
            0,
            1,
            -1,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
        ];
        for case in 0..50_000 {
            let q = match case % 50 {
                0 => QuantizedMultiplier {
                    multiplier: i32::MIN,
                    shift: -(rng.below(32) as i32),
                },
                1 => QuantizedMultiplier {
                    multiplier: 0,
                    shift: 0,
                },
                _ => QuantizedMultiplier::new(
                    libm::pow(2.0, 4.0 - (rng.below(44) as f64))
                        * (0.5 + rng.below(1 << 20) as f64 / (1 << 21) as f64),
                ),
            };
            let acc = match case % 7 {
                0 => *rng.pick(&edges),
                _ => rng.next_u64() as i32 >> rng.below(31),
            };
            let bias = match case % 11 {
                0 => *rng.pick(&edges),
                _ => (rng.next_u64() as i32) >> 12,
            };
            let zp = rng.below(256) as i32 - 128;
            let c0 = rng.below(400) as i32 - 200;
            let clamp = (c0, c0 + rng.below(300) as i32);
            let want = q
                .apply(acc.wrapping_add(bias))
                .wrapping_add(zp)
                .clamp(clamp.0, clamp.1)
                .clamp(-128, 127) as i8;
            let got = Requantize::new(bias, q, zp, clamp).apply(acc);
            assert_eq!(
                got, want,
                "acc {acc}, bias {bias}, {q:?}, zp {zp}, clamp {clamp:?}"
            );
        }
    }

    #[test]
    fn activation_ranges() {
        assert_eq!(
            activation_range(Activation::Linear, 0.1, 3),
            Some((-128, 127))
        );
        assert_eq!(
            activation_range(Activation::Relu, 0.1, -128),
            Some((-128, 127))
        );
        assert_eq!(
            activation_range(Activation::Relu, 0.1, -20),
            Some((-20, 127))
        );
        assert_eq!(
            activation_range(Activation::Relu6, 0.05, -128),
            Some((-128, -8))
        );
        assert_eq!(activation_range(Activation::Relu6, 0.01, 0), Some((0, 127)));
        assert_eq!(activation_range(Activation::Sigmoid, 0.01, 0), None);
    }
}
