//! int8 convolution with TFLite's arithmetic (its reference
//! `reference_integer_ops::ConvPerChannel`): int8 input with a per-tensor
//! zero point, int8 weights symmetric per output channel, int32 bias, an
//! int32 accumulator requantized per channel ([`QuantizedMultiplier`]), the
//! output zero point added and the fused activation applied as a clamp.
//! Padding taps contribute nothing (TFLite pads with the input's zero
//! point). Output equals the TFLite interpreter's with its reference kernels
//! bit for bit (`tests/int8_tflite.rs`, fixtures from
//! `tools/tflite_int8_fixtures.py`).
//!
//! This is the plain-loop kernel every faster int8 kernel will be checked
//! against; it takes the Keras kernel layout `[kh, kw, in / groups, filters]`.

use crate::geom::Conv2dGeom;
use crate::quant::QuantizedMultiplier;

/// A layer's quantization: what TFLite's converter chose for it.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dInt8Quant<'a> {
    /// The input tensor's zero point.
    pub input_zero_point: i32,
    /// The output tensor's zero point.
    pub output_zero_point: i32,
    /// Per output channel, `input_scale * weight_scale[c] / output_scale`
    /// as TFLite quantizes it.
    pub multipliers: &'a [QuantizedMultiplier],
    /// The fused activation as an int8 clamp
    /// ([`crate::quant::activation_range`]).
    pub clamp: (i32, i32),
}

/// `out = clamp(requant(sum (x - zp_in) * w + bias) + zp_out)` over the
/// geometry `g` (its `activation` is ignored: the clamp carries it), int8
/// channels-last in and out.
///
/// # Panics
/// If a slice length differs from the geometry, or `q.multipliers` does
/// not have one entry per output channel.
pub fn conv2d_int8_reference(
    g: &Conv2dGeom,
    x: &[i8],
    kernel: &[i8],
    bias: Option<&[i32]>,
    q: &Conv2dInt8Quant<'_>,
    out: &mut [i8],
) {
    let (inp, o) = (g.input, g.output);
    crate::igemm::validate(g);
    assert_eq!(x.len(), inp.len(), "conv2d_int8: input length");
    assert_eq!(kernel.len(), g.kernel_len(), "conv2d_int8: kernel length");
    assert_eq!(out.len(), o.len(), "conv2d_int8: output length");
    assert_eq!(
        q.multipliers.len(),
        o.c,
        "conv2d_int8: one multiplier per filter"
    );
    if let Some(b) = bias {
        assert_eq!(b.len(), o.c, "conv2d_int8: bias length");
    }
    let (cin_g, cout_g) = (inp.c / g.groups, o.c / g.groups);
    let (h_up, w_up) = (inp.h * g.upsample.0, inp.w * g.upsample.1);
    for (pix, row) in out.chunks_exact_mut(o.c).enumerate() {
        let (oy, ox) = (pix / o.w, pix % o.w);
        for (f, y) in row.iter_mut().enumerate() {
            let grp = f / cout_g;
            // i32 throughout, wrapping as TFLite's accumulator does in
            // practice (it cannot overflow for layers below ~2^16 taps).
            let mut acc = 0i32;
            for ky in 0..g.kernel.0 {
                let iy = (oy * g.strides.0 + ky * g.dilation.0) as isize - g.pad.0 as isize;
                if iy < 0 || iy as usize >= h_up {
                    continue;
                }
                for kx in 0..g.kernel.1 {
                    let ix = (ox * g.strides.1 + kx * g.dilation.1) as isize - g.pad.1 as isize;
                    if ix < 0 || ix as usize >= w_up {
                        continue;
                    }
                    let (iy, ix) = (iy as usize / g.upsample.0, ix as usize / g.upsample.1);
                    let xp = &x[(iy * inp.w + ix) * inp.c + grp * cin_g..][..cin_g];
                    let w0 = (ky * g.kernel.1 + kx) * cin_g * o.c + f;
                    for (ci, &xv) in xp.iter().enumerate() {
                        let w = i32::from(kernel[w0 + ci * o.c]);
                        acc =
                            acc.wrapping_add((i32::from(xv) - q.input_zero_point).wrapping_mul(w));
                    }
                }
            }
            if let Some(b) = bias {
                acc = acc.wrapping_add(b[f]);
            }
            let v = q.multipliers[f]
                .apply(acc)
                .wrapping_add(q.output_zero_point);
            *y = v.clamp(q.clamp.0, q.clamp.1).clamp(-128, 127) as i8;
        }
    }
}
