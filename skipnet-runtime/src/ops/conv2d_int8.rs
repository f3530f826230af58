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
#[cfg(feature = "alloc")]
use crate::{
    quant::{activation_range, Quantization},
    Activation,
};

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

/// A conv's quantization owned, for a network's `C` filters: what a
/// `#[quantized]` network stores per conv (computed once when the weights
/// are loaded, or at compile time when they are baked).
#[derive(Clone, Copy, Debug)]
pub struct Conv2dInt8Requant<const C: usize> {
    /// The input tensor's zero point.
    pub input_zero_point: i32,
    /// The output tensor's zero point.
    pub output_zero_point: i32,
    /// Per filter, as in [`Conv2dInt8Quant::multipliers`].
    pub multipliers: [QuantizedMultiplier; C],
    /// The fused activation as an int8 clamp.
    pub clamp: (i32, i32),
}

impl<const C: usize> Conv2dInt8Requant<C> {
    /// From the input's and output's quantization and the per-filter
    /// kernel scales: [`requantization`]'s values in an array of `C`.
    #[cfg(feature = "alloc")]
    pub fn new(
        layer: &str,
        input: Quantization,
        kernel_scale: &[f32],
        output: Quantization,
        activation: Activation,
    ) -> Result<Self, crate::Error> {
        if kernel_scale.len() != C {
            return Err(crate::Error::Quantization {
                reason: alloc::format!(
                    "`{layer}.kernel_scale` has {} scales for {C} filters",
                    kernel_scale.len()
                ),
            });
        }
        let (m, clamp) = requantization(layer, input, kernel_scale, output, activation)?;
        let mut multipliers = [QuantizedMultiplier {
            multiplier: 0,
            shift: 0,
        }; C];
        multipliers.copy_from_slice(&m);
        Ok(Conv2dInt8Requant {
            input_zero_point: input.zero_point,
            output_zero_point: output.zero_point,
            multipliers,
            clamp,
        })
    }

    /// The borrowed form the kernels take.
    pub fn quant(&self) -> Conv2dInt8Quant<'_> {
        Conv2dInt8Quant {
            input_zero_point: self.input_zero_point,
            output_zero_point: self.output_zero_point,
            multipliers: &self.multipliers,
            clamp: self.clamp,
        }
    }
}

/// A conv's per-filter multipliers and output clamp as TFLite's
/// `PopulateConvolutionQuantizationParams` derives them from the input's and
/// output's quantization and the kernel scales (what a network computes at
/// load time, and the macro at compile time for baked weights). `Err`
/// (naming `layer`) for a kernel scale that is not positive and finite, or
/// an activation TFLite cannot fuse into an int8 conv (only linear, relu,
/// relu6).
#[cfg(feature = "alloc")]
#[allow(clippy::type_complexity)]
pub fn requantization(
    layer: &str,
    input: Quantization,
    kernel_scale: &[f32],
    output: Quantization,
    activation: Activation,
) -> Result<(alloc::vec::Vec<QuantizedMultiplier>, (i32, i32)), crate::Error> {
    let err = |reason: alloc::string::String| crate::Error::Quantization { reason };
    if let Some((f, s)) = kernel_scale
        .iter()
        .enumerate()
        .find(|(_, s)| !(s.is_finite() && **s > 0.0))
    {
        return Err(err(alloc::format!(
            "`{layer}.kernel_scale` of filter {f} is {s}; scales must be positive and finite"
        )));
    }
    let clamp = activation_range(activation, output.scale, output.zero_point).ok_or_else(|| {
        err(alloc::format!(
            "`{layer}`: activation {activation:?} cannot be fused into an int8 conv"
        ))
    })?;
    let multipliers = kernel_scale
        .iter()
        .map(|&s| QuantizedMultiplier::for_conv(input.scale, s, output.scale))
        .collect();
    Ok((multipliers, clamp))
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
    assert_eq!(out.len(), g.output.len(), "conv2d_int8: output length");
    conv2d_int8_into(g, x, kernel, bias, q, out, (g.output.c, 0));
}

/// [`conv2d_int8_reference`] writing output pixel `p`'s channels at
/// `out[p * layout.0 + layout.1..][..filters]`: a part of a concat's buffer
/// (`layout` = (the concat's channels, this part's first channel)). The
/// other columns are left as they are.
///
/// # Panics
/// As [`conv2d_int8_reference`], and if the layout does not fit in `out`.
pub fn conv2d_int8_into(
    g: &Conv2dGeom,
    x: &[i8],
    kernel: &[i8],
    bias: Option<&[i32]>,
    q: &Conv2dInt8Quant<'_>,
    out: &mut [i8],
    layout: (usize, usize),
) {
    let (inp, o) = (g.input, g.output);
    crate::igemm::validate(g);
    assert_eq!(x.len(), inp.len(), "conv2d_int8: input length");
    assert_eq!(kernel.len(), g.kernel_len(), "conv2d_int8: kernel length");
    let (stride, offset) = layout;
    assert!(
        offset + o.c <= stride && out.len() == o.h * o.w * stride,
        "conv2d_int8: output layout"
    );
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
    for (pix, row) in out.chunks_exact_mut(stride).enumerate() {
        let row = &mut row[offset..offset + o.c];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Hwc;
    use crate::testing::SplitMix64;

    /// A part of a concat's buffer: the strided write equals the plain one
    /// in its columns and leaves the other columns alone.
    #[test]
    fn strided_output_equals_the_plain_output_in_its_columns() {
        let g = Conv2dGeom {
            input: Hwc { h: 5, w: 4, c: 3 },
            upsample: (2, 1),
            output: Hwc { h: 5, w: 4, c: 6 },
            kernel: (3, 3),
            strides: (2, 1),
            dilation: (1, 1),
            pad: (1, 1),
            groups: 1,
            activation: Activation::Relu,
        };
        let mut rng = SplitMix64(7);
        let mut i8s = |n: usize| -> alloc::vec::Vec<i8> {
            (0..n).map(|_| (rng.next_u64() >> 56) as u8 as i8).collect()
        };
        let (x, k) = (i8s(g.input.len()), i8s(g.kernel_len()));
        let bias: alloc::vec::Vec<i32> = (0..6).map(|f| f * 300 - 700).collect();
        let multipliers = [QuantizedMultiplier::new(0.0123); 6];
        let q = Conv2dInt8Quant {
            input_zero_point: -5,
            output_zero_point: 3,
            multipliers: &multipliers,
            clamp: (3, 127),
        };
        let mut plain = alloc::vec![0i8; g.output.len()];
        conv2d_int8_reference(&g, &x, &k, Some(&bias), &q, &mut plain);
        let (stride, offset) = (10, 3);
        let mut wide = alloc::vec![77i8; 20 * stride];
        conv2d_int8_into(&g, &x, &k, Some(&bias), &q, &mut wide, (stride, offset));
        for (p, row) in wide.chunks_exact(stride).enumerate() {
            assert_eq!(&row[offset..offset + 6], &plain[p * 6..][..6], "pixel {p}");
            assert!(row[..offset]
                .iter()
                .chain(&row[offset + 6..])
                .all(|&v| v == 77));
        }
        assert!(plain.iter().any(|&v| v > 3), "all outputs clamped");
    }
}
