//! Transposed convolution, Keras `Conv2DTranspose` (kernel `[kh, kw, filters,
//! in]`, TensorFlow's padding: the gradient of the forward conv that maps the
//! output back to the input).

use super::Hwc;
use crate::Activation;

/// Geometry of one `conv2d_transpose` layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dTransposeGeom {
    /// Input map.
    pub input: Hwc,
    /// Output map (`c` = filters).
    pub output: Hwc,
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Strides along H and W (the upsampling factor).
    pub strides: (usize, usize),
    /// Leading padding of the forward conv (cells cut from the top and left).
    pub pad: (usize, usize),
    /// Applied after the bias.
    pub activation: Activation,
}

/// `out[iy*s + ky - pad, ix*s + kx - pad, f] += sum_c x[iy, ix, c] * kernel[ky, kx, f, c]`,
/// then bias and activation.
pub fn conv2d_transpose(
    g: &Conv2dTransposeGeom,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let (inp, o) = (g.input, g.output);
    assert_eq!(x.len(), inp.len());
    assert_eq!(out.len(), o.len());
    assert_eq!(kernel.len(), g.kernel.0 * g.kernel.1 * o.c * inp.c);
    if let Some(b) = bias {
        assert_eq!(b.len(), o.c);
    }
    if o.c == 0 {
        return;
    }
    for pix in out.chunks_exact_mut(o.c) {
        match bias {
            Some(b) => pix.copy_from_slice(b),
            None => pix.fill(0.0),
        }
    }
    if inp.c > 0 {
        for (ipix, xin) in x.chunks_exact(inp.c).enumerate() {
            let (iy, ix) = (ipix / inp.w, ipix % inp.w);
            for ky in 0..g.kernel.0 {
                let Some(oy) = (iy * g.strides.0 + ky).checked_sub(g.pad.0) else {
                    continue;
                };
                if oy >= o.h {
                    continue;
                }
                for kx in 0..g.kernel.1 {
                    let Some(ox) = (ix * g.strides.1 + kx).checked_sub(g.pad.1) else {
                        continue;
                    };
                    if ox >= o.w {
                        continue;
                    }
                    let taps = &kernel[(ky * g.kernel.1 + kx) * o.c * inp.c..][..o.c * inp.c];
                    let opix = &mut out[(oy * o.w + ox) * o.c..][..o.c];
                    for (acc, w) in opix.iter_mut().zip(taps.chunks_exact(inp.c)) {
                        *acc += w.iter().zip(xin).map(|(w, x)| w * x).sum::<f32>();
                    }
                }
            }
        }
    }
    g.activation.apply(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stride_2_spreads_each_input_cell() {
        // 1x2x1 input [1, 2], 2x2 kernel of ones... weighted [1, 2; 3, 4], one filter,
        // stride 2 valid: each input cell becomes a 2x2 block.
        let g = Conv2dTransposeGeom {
            input: Hwc { h: 1, w: 2, c: 1 },
            output: Hwc { h: 2, w: 4, c: 1 },
            kernel: (2, 2),
            strides: (2, 2),
            pad: (0, 0),
            activation: Activation::Linear,
        };
        let mut out = [0.0; 8];
        conv2d_transpose(
            &g,
            &[1.0, 2.0],
            &[1.0, 2.0, 3.0, 4.0],
            Some(&[0.5]),
            &mut out,
        );
        assert_eq!(out, [1.5, 2.5, 2.5, 4.5, 3.5, 4.5, 6.5, 8.5]);
    }

    #[test]
    fn overlapping_taps_add_up() {
        // 1x2 input, 1x3 kernel [1, 1, 1], stride 1 valid: out width 4.
        let g = Conv2dTransposeGeom {
            input: Hwc { h: 1, w: 2, c: 1 },
            output: Hwc { h: 1, w: 4, c: 1 },
            kernel: (1, 3),
            strides: (1, 1),
            pad: (0, 0),
            activation: Activation::Relu,
        };
        let mut out = [0.0; 4];
        conv2d_transpose(&g, &[1.0, -3.0], &[1.0, 1.0, 1.0], None, &mut out);
        assert_eq!(out, [1.0, 0.0, 0.0, 0.0]);
    }
}
