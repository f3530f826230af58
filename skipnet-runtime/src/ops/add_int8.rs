//! int8 `add` with TFLite's arithmetic (`reference_integer_ops::Add`, as
//! `add.cc` prepares it for int8): both operands moved to their zero point
//! and shifted left by 20 bits, each rescaled by its scale over twice the
//! larger operand scale, summed, rescaled to the output scale, the output
//! zero point added and the fused activation applied as a clamp. Equal bit
//! for bit to the TFLite interpreter's reference kernel
//! (`tests/int8_tflite.rs`).

use crate::quant::{activation_range, QuantizedMultiplier};
use crate::Activation;

/// The bits both operands are shifted left by before rescaling (TFLite's
/// `left_shift` for int8).
const LEFT_SHIFT: u32 = 20;

/// An int8 add's quantization, prepared once (at load or bake time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddInt8Quant {
    a_zero_point: i32,
    b_zero_point: i32,
    output_zero_point: i32,
    a_multiplier: QuantizedMultiplier,
    b_multiplier: QuantizedMultiplier,
    output_multiplier: QuantizedMultiplier,
    clamp: (i32, i32),
}

impl AddInt8Quant {
    /// From the operands' and the output's `(scale, zero point)` and the
    /// fused activation, as TFLite's `Prepare` computes it (in double from
    /// the float32 scales). `None` for an activation TFLite does not fuse
    /// (anything but linear, relu and relu6) or a scale that is not finite
    /// and positive.
    pub fn new(a: (f32, i32), b: (f32, i32), out: (f32, i32), act: Activation) -> Option<Self> {
        let ok = |s: f32| s.is_finite() && s > 0.0;
        if !(ok(a.0) && ok(b.0) && ok(out.0)) {
            return None;
        }
        let twice_max = 2.0 * f64::from(a.0.max(b.0));
        Some(AddInt8Quant {
            a_zero_point: a.1,
            b_zero_point: b.1,
            output_zero_point: out.1,
            a_multiplier: QuantizedMultiplier::new(f64::from(a.0) / twice_max),
            b_multiplier: QuantizedMultiplier::new(f64::from(b.0) / twice_max),
            output_multiplier: QuantizedMultiplier::new(
                twice_max / (f64::from(1u32 << LEFT_SHIFT) * f64::from(out.0)),
            ),
            clamp: activation_range(act, out.0, out.1)?,
        })
    }

    /// One element.
    #[inline]
    pub fn add(&self, a: i8, b: i8) -> i8 {
        let a = (i32::from(a) - self.a_zero_point) << LEFT_SHIFT;
        let b = (i32::from(b) - self.b_zero_point) << LEFT_SHIFT;
        let sum = self.a_multiplier.apply(a) + self.b_multiplier.apply(b);
        let y = self.output_multiplier.apply(sum) + self.output_zero_point;
        y.clamp(self.clamp.0, self.clamp.1).clamp(-128, 127) as i8
    }
}

/// `out[i] = a[i] + b[i]` in int8, element-wise (same shape).
///
/// # Panics
/// If the lengths differ.
pub fn add_int8(a: &[i8], b: &[i8], q: &AddInt8Quant, out: &mut [i8]) {
    assert_eq!(a.len(), out.len(), "add_int8: first operand length");
    assert_eq!(b.len(), out.len(), "add_int8: second operand length");
    for ((y, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *y = q.add(a, b);
    }
}
