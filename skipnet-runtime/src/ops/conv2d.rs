//! 2-D convolution, Keras `Conv2D` semantics (HWIO kernel, channels-last).

use super::tap;
use crate::exec::Exec;
use crate::igemm::{self, OutLayout};
use crate::Activation;

pub use crate::geom::Conv2dGeom;

/// Repacks a Keras `[kh, kw, in / groups, filters]` kernel into the panel
/// layout [`conv2d`] reads (done once, when weights are loaded).
pub fn pack_kernel(g: &Conv2dGeom, kernel: &[f32], packed: &mut [f32]) {
    igemm::pack(g, kernel, packed)
}

/// Packing a conv kernel for whichever algorithm the geometry's type names
/// (the generated weight loader calls this on the macro's chosen geometry).
pub trait PackConvKernel {
    /// Floats of the packed kernel.
    fn packed_len(&self) -> usize;
    /// Packs a Keras `[kh, kw, in / groups, filters]` kernel.
    fn pack_conv_kernel(&self, kernel: &[f32], packed: &mut [f32]);
}

impl PackConvKernel for Conv2dGeom {
    fn packed_len(&self) -> usize {
        self.packed_kernel_len()
    }
    fn pack_conv_kernel(&self, kernel: &[f32], packed: &mut [f32]) {
        pack_kernel(self, kernel, packed)
    }
}

impl PackConvKernel for crate::winograd::WinogradGeom {
    fn packed_len(&self) -> usize {
        self.packed_kernel_len()
    }
    fn pack_conv_kernel(&self, kernel: &[f32], packed: &mut [f32]) {
        crate::winograd::pack_kernel(self, kernel, packed)
    }
}

/// The packed kernel of the same conv on its input scaled per channel:
/// `conv(x * scale, kernel) = conv(x, kernel * scale)`, each packed row
/// `k = (ky * kw + kx) * cin + ci` times `scale[ci]` (zero padding stays
/// zero either way). A squeeze-and-excite product (`multiply` of a map by
/// a `[1, 1, C]` gate) folded into the conv that reads it costs this pass
/// over the kernel instead of one over the map (the macro folds it only
/// where the kernel is the smaller).
///
/// # Panics
/// If `g.groups != 1`, or a length does not match the geometry.
pub fn scale_input_channels(g: &Conv2dGeom, packed: &[f32], scale: &[f32], out: &mut [f32]) {
    assert_eq!(g.groups, 1, "scale_input_channels: groups must be 1");
    assert_eq!(
        packed.len(),
        g.packed_kernel_len(),
        "scale_input_channels: packed kernel length"
    );
    assert_eq!(
        scale.len(),
        g.input.c,
        "scale_input_channels: one scale per input channel"
    );
    assert_eq!(
        out.len(),
        packed.len(),
        "scale_input_channels: output length"
    );
    // Rows of `PANEL` filters; `k` runs over the taps' channels in order,
    // panel after panel.
    let rows = packed.chunks_exact(igemm::PANEL);
    let scales = scale.iter().cycle();
    for ((dst, src), &s) in out.chunks_exact_mut(igemm::PANEL).zip(rows).zip(scales) {
        for (d, &w) in dst.iter_mut().zip(src) {
            *d = w * s;
        }
    }
}

/// `out = activation(conv(x, kernel) + bias)` with the kernel packed by
/// [`pack_kernel`], on `exec`'s tile kernel ([`Exec::isa`]: the best this CPU
/// has unless chosen) and threads.
///
/// Panics if a slice length differs from the geometry (the generated code
/// passes arrays whose lengths the macro computed from the same geometry).
pub fn conv2d(
    exec: &mut Exec,
    g: &Conv2dGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let isa = exec.isa();
    igemm::conv_on(
        exec,
        isa,
        g,
        x,
        packed,
        bias,
        out,
        OutLayout::plain(g.output.c),
    )
}

/// `out = post(activation(conv(x, kernel) + bias) + residual[0] + ...)`: an
/// `add` (and the activation applied to its sum) fused into the conv that
/// produces its last operand.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_add(
    exec: &mut Exec,
    g: &Conv2dGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    residual: &[&[f32]],
    post: Activation,
    out: &mut [f32],
) {
    let layout = OutLayout {
        residual,
        post,
        ..OutLayout::plain(g.output.c)
    };
    let isa = exec.isa();
    igemm::conv_on(exec, isa, g, x, packed, bias, out, layout)
}

/// As [`conv2d_add`] with one more residual already in `out` (the `add` runs
/// in place in the buffer of an operand that dies there):
/// `out = post(activation(conv(x, kernel) + bias) + out + residual[0] + ...)`.
///
/// Panics (like a length mismatch) if the layer's activation is not linear and
/// the kernel needs several passes (more than 25 taps or 2048 input channels
/// per group); the macro only generates this call when it is allowed.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_add_in_place(
    exec: &mut Exec,
    g: &Conv2dGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    residual: &[&[f32]],
    post: Activation,
    out: &mut [f32],
) {
    let layout = OutLayout {
        residual,
        accumulate: true,
        post,
        ..OutLayout::plain(g.output.c)
    };
    let isa = exec.isa();
    igemm::conv_on(exec, isa, g, x, packed, bias, out, layout)
}

/// `activation(conv(x, kernel) + bias)` written into a wider buffer: output
/// pixel `p`'s filters go to `out[p * stride + offset..][..filters]` (a conv
/// producing its operand of a channel concat in place); nothing else of `out`
/// is touched.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_into(
    exec: &mut Exec,
    g: &Conv2dGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    stride: usize,
    offset: usize,
    out: &mut [f32],
) {
    assert!(offset + g.output.c <= stride);
    let layout = OutLayout {
        stride,
        offset,
        ..OutLayout::plain(g.output.c)
    };
    let isa = exec.isa();
    igemm::conv_on(exec, isa, g, x, packed, bias, out, layout)
}

/// Whether [`conv2d_add_in_place`] accepts this layer (see there).
pub const fn can_add_in_place(g: &Conv2dGeom) -> bool {
    igemm::single_pass(g) || matches!(g.activation, Activation::Linear)
}

/// The same convolution as a plain loop over the unpacked Keras kernel: the
/// reference the tile kernels are tested against.
pub fn conv2d_reference(
    g: &Conv2dGeom,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let (inp, o) = (g.input, g.output);
    assert_eq!(x.len(), inp.len());
    assert_eq!(out.len(), o.len());
    assert_eq!(kernel.len(), g.kernel_len());
    let cin_g = inp.c / g.groups;
    let cout_g = o.c / g.groups;
    // One weight row per (ky, kx, ci): `o.c` filters, contiguous.
    let tap_stride = cin_g * o.c;

    for (pix, acc) in out.chunks_exact_mut(o.c).enumerate() {
        let (oy, ox) = (pix / o.w, pix % o.w);
        match bias {
            Some(b) => acc.copy_from_slice(&b[..o.c]),
            None => acc.fill(0.0),
        }
        for ky in 0..g.kernel.0 {
            let Some(iy) = tap(
                oy,
                g.strides.0,
                ky,
                g.dilation.0,
                g.pad.0,
                inp.h * g.upsample.0,
            ) else {
                continue;
            };
            for kx in 0..g.kernel.1 {
                let Some(ix) = tap(
                    ox,
                    g.strides.1,
                    kx,
                    g.dilation.1,
                    g.pad.1,
                    inp.w * g.upsample.1,
                ) else {
                    continue;
                };
                let (iy, ix) = (iy / g.upsample.0, ix / g.upsample.1);
                let xp = &x[(iy * inp.w + ix) * inp.c..][..inp.c];
                let wt = &kernel[(ky * g.kernel.1 + kx) * tap_stride..][..tap_stride];
                for grp in 0..g.groups {
                    let acc_g = &mut acc[grp * cout_g..][..cout_g];
                    for ci in 0..cin_g {
                        let xv = xp[grp * cin_g + ci];
                        let wrow = &wt[ci * o.c + grp * cout_g..][..cout_g];
                        for (a, w) in acc_g.iter_mut().zip(wrow) {
                            *a += xv * w;
                        }
                    }
                }
            }
        }
        g.activation.apply(acc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Hwc;

    /// Runs the reference and the packed kernel; both must agree.
    fn conv2d(g: &Conv2dGeom, x: &[f32], kernel: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        conv2d_reference(g, x, kernel, bias, out);
        let mut packed = alloc::vec![0.0; g.packed_kernel_len()];
        pack_kernel(g, kernel, &mut packed);
        let mut fast = alloc::vec![0.0; out.len()];
        super::conv2d(&mut Exec::serial(), g, x, &packed, bias, &mut fast);
        for (a, b) in out.iter().zip(&fast) {
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                "{out:?} vs {fast:?}"
            );
        }
    }

    fn geom(input: Hwc, output: Hwc, k: usize, s: usize, pad: usize) -> Conv2dGeom {
        Conv2dGeom {
            input,
            output,
            kernel: (k, k),
            strides: (s, s),
            dilation: (1, 1),
            pad: (pad, pad),
            upsample: (1, 1),
            groups: 1,
            activation: Activation::Linear,
        }
    }

    #[test]
    fn one_by_one_is_a_matmul_plus_bias() {
        // 1x2 map, 2 channels -> 3 filters.
        let g = geom(Hwc { h: 1, w: 2, c: 2 }, Hwc { h: 1, w: 2, c: 3 }, 1, 1, 0);
        let x = [1.0, 2.0, 3.0, 4.0];
        let k = [1.0, 0.0, -1.0, 0.5, 1.0, 2.0]; // [1,1,2,3]
        let b = [0.1, 0.2, 0.3];
        let mut out = [0.0; 6];
        conv2d(&g, &x, &k, Some(&b), &mut out);
        let want = [
            1.0 + 1.0 + 0.1,
            2.0 + 0.2,
            -1.0 + 4.0 + 0.3,
            3.0 + 2.0 + 0.1,
            4.0 + 0.2,
            -3.0 + 8.0 + 0.3,
        ];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn same_padding_3x3_sums_neighbourhood() {
        // All-ones 3x3 kernel over a 3x3 single-channel map of ones: corner 4, edge 6, centre 9.
        let g = geom(Hwc { h: 3, w: 3, c: 1 }, Hwc { h: 3, w: 3, c: 1 }, 3, 1, 1);
        let mut out = [0.0; 9];
        conv2d(&g, &[1.0; 9], &[1.0; 9], None, &mut out);
        assert_eq!(out, [4.0, 6.0, 4.0, 6.0, 9.0, 6.0, 4.0, 6.0, 4.0]);
    }

    #[test]
    fn stride_dilation_and_relu() {
        // 5x5 input 0..25, 3x3 kernel with only the centre-right tap, dilation 2, valid.
        let mut g = geom(Hwc { h: 5, w: 5, c: 1 }, Hwc { h: 1, w: 1, c: 1 }, 3, 1, 0);
        g.dilation = (2, 2);
        let x: [f32; 25] = core::array::from_fn(|i| i as f32);
        let mut k = [0.0; 9];
        k[5] = -1.0; // (ky=1, kx=2) -> input (2, 4) = 14
        let mut out = [0.0];
        conv2d(&g, &x, &k, None, &mut out);
        assert_eq!(out, [-14.0]);
        g.activation = Activation::Relu;
        conv2d(&g, &x, &k, None, &mut out);
        assert_eq!(out, [0.0]);
    }

    #[test]
    fn folded_upsample_equals_materialized_upsample() {
        // 2x3 map, 2 channels, upsampled (2, 2) to 4x6, then a 3x3 same conv.
        let small = Hwc { h: 2, w: 3, c: 2 };
        let x: [f32; 12] = core::array::from_fn(|i| i as f32 * 0.5 - 2.0);
        let mut big = [0.0; 48];
        crate::ops::upsample2d::upsample2d_nearest(small, (2, 2), &x, &mut big);
        let k: [f32; 3 * 3 * 2 * 3] = core::array::from_fn(|i| (i % 7) as f32 - 3.0);
        let mut g = geom(Hwc { h: 4, w: 6, c: 2 }, Hwc { h: 4, w: 6, c: 3 }, 3, 1, 1);
        let mut want = [0.0; 72];
        conv2d(&g, &big, &k, None, &mut want);
        g.input = small;
        g.upsample = (2, 2);
        let mut got = [0.0; 72];
        conv2d(&g, &x, &k, None, &mut got);
        assert_eq!(got, want);
    }

    #[test]
    fn a_scaled_kernel_equals_the_conv_of_the_scaled_input() {
        // 3x3 same conv, stride 2, 20 channels (two panels of filters: 20
        // filters), so rows cycle through the channels over taps and panels.
        let (cin, f) = (5, 20);
        let g = geom(
            Hwc { h: 5, w: 4, c: cin },
            Hwc { h: 3, w: 2, c: f },
            3,
            2,
            1,
        );
        let x: alloc::vec::Vec<f32> = (0..g.input.len())
            .map(|i| (i % 11) as f32 * 0.25 - 1.0)
            .collect();
        let k: alloc::vec::Vec<f32> = (0..g.kernel_len())
            .map(|i| (i % 13) as f32 * 0.5 - 3.0)
            .collect();
        let scale = [0.5, -2.0, 0.0, 1.5, 4.0];
        let scaled_x: alloc::vec::Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| v * scale[i % cin])
            .collect();
        let mut packed = alloc::vec![0.0; g.packed_kernel_len()];
        pack_kernel(&g, &k, &mut packed);
        let mut want = alloc::vec![0.0; g.output.len()];
        conv2d_reference(&g, &scaled_x, &k, None, &mut want);
        let mut scaled = alloc::vec![0.0; packed.len()];
        scale_input_channels(&g, &packed, &scale, &mut scaled);
        let mut got = alloc::vec![0.0; want.len()];
        super::conv2d(&mut Exec::serial(), &g, &x, &scaled, None, &mut got);
        // Small integers and powers of two: every product and sum is exact.
        assert_eq!(got, want);
        assert!(want.iter().any(|&v| v != 0.0));
    }

    #[test]
    fn groups_keep_channels_apart() {
        // 1x1 map, 4 channels, 2 groups, 2 filters: filter 0 sees ch 0..2, filter 1 sees ch 2..4.
        let mut g = geom(Hwc { h: 1, w: 1, c: 4 }, Hwc { h: 1, w: 1, c: 2 }, 1, 1, 0);
        g.groups = 2;
        let x = [1.0, 2.0, 3.0, 4.0];
        let k = [1.0, 10.0, 100.0, 1000.0]; // [1,1,2,2]: row ci, column f
        let mut out = [0.0; 2];
        conv2d(&g, &x, &k, None, &mut out);
        assert_eq!(out, [1.0 * 1.0 + 2.0 * 100.0, 3.0 * 10.0 + 4.0 * 1000.0]);
    }
}
