//! The packed int8 conv against the reference loop (which equals TFLite's
//! reference kernel bit for bit, tests/int8_tflite.rs) on random
//! geometries: every output must be equal.

use super::*;
use crate::geom::Hwc;
use crate::isa::Isa;
use crate::ops::conv2d_int8::{conv2d_int8_into, Conv2dInt8Quant};
use crate::quant::QuantizedMultiplier;
use crate::testing::SplitMix64;
use crate::Activation;
use alloc::vec;
use alloc::vec::Vec;

/// A random groups-1 geometry: kernel up to 4x4, strides, dilation,
/// upsampling, padding, channels not a multiple of four included.
fn geometry(r: &mut SplitMix64) -> Conv2dGeom {
    let kernel = (r.range(1, 4), r.range(1, 4));
    let dilation = (r.range(1, 2), r.range(1, 2));
    let strides = (r.range(1, 3), r.range(1, 3));
    let upsample = if r.one_in(4) {
        (2, r.range(1, 2))
    } else {
        (1, 1)
    };
    // 64: a tap of sixteen steps (the VNNI gather's SIMD widening).
    let c = *r.pick(&[1, 3, 4, 8, 12, 16, 20, 36, 64]);
    let input = Hwc {
        h: r.range(1, 9),
        w: r.range(1, 9),
        c,
    };
    let pad = (r.range(0, kernel.0 - 1), r.range(0, kernel.1 - 1));
    let span = |n: usize, k: usize, d: usize, s: usize, p: usize| {
        let full = n + 2 * p;
        let k_eff = (k - 1) * d + 1;
        (full >= k_eff).then(|| (full - k_eff) / s + 1)
    };
    let (h_up, w_up) = (input.h * upsample.0, input.w * upsample.1);
    let oh = span(h_up, kernel.0, dilation.0, strides.0, pad.0).unwrap_or(1);
    let ow = span(w_up, kernel.1, dilation.1, strides.1, pad.1).unwrap_or(1);
    Conv2dGeom {
        input,
        upsample,
        output: Hwc {
            h: oh,
            w: ow,
            // Past 8: more than one group of the VNNI conv's four pairs.
            c: if r.one_in(4) {
                r.range(9, 19)
            } else {
                r.range(1, 8)
            },
        },
        kernel,
        strides,
        dilation,
        pad,
        groups: 1,
        activation: Activation::Linear,
    }
}

fn i8s(r: &mut SplitMix64, n: usize) -> Vec<i8> {
    (0..n).map(|_| (r.next_u64() >> 56) as u8 as i8).collect()
}

#[test]
fn packed_conv_equals_the_reference_on_random_geometries() {
    let mut r = SplitMix64(0x1a2b_3c4d);
    // Fewer under Miri (CI runs this test there for the kernel's `unsafe`).
    let cases = if cfg!(miri) { 12 } else { 400 };
    let (mut tails, mut gaps, mut too_close_differs) = (0, 0, 0);
    let isas = crate::testing::isas_under_test("qgemm");
    for case in 0..cases {
        let g = geometry(&mut r);
        let (x, k) = (i8s(&mut r, g.input.len()), i8s(&mut r, g.kernel_len()));
        let bias: Vec<i32> = (0..g.output.c)
            .map(|_| (r.next_u64() % 20_000) as i32 - 10_000)
            .collect();
        // Now and then `i32::MIN`, the multiplier whose doubling high
        // multiply saturates (TFLite never makes it; the kernels handle it).
        let multipliers: Vec<QuantizedMultiplier> = (0..g.output.c)
            .map(|_| match r.one_in(16) {
                true => QuantizedMultiplier {
                    multiplier: i32::MIN,
                    shift: -(r.range(8, 20) as i32),
                },
                false => QuantizedMultiplier::new(1e-4 + (r.below(1000) as f64) * 2e-5),
            })
            .collect();
        let q = Conv2dInt8Quant {
            input_zero_point: r.below(256) as i32 - 128,
            output_zero_point: r.below(256) as i32 - 128,
            multipliers: &multipliers,
            clamp: if r.one_in(2) { (-128, 127) } else { (-20, 90) },
        };
        let with_bias = !r.one_in(5);
        let b = with_bias.then_some(&bias[..]);
        let extra = if r.one_in(3) { r.range(1, 5) } else { 0 };
        let layout = (g.output.c + extra, r.below(extra + 1));
        let n_out = g.output.h * g.output.w * layout.0;
        let mut want = vec![55i8; n_out];
        conv2d_int8_into(&g, &x, &k, b, &q, &mut want, layout);
        let mut packed = vec![0i32; packed_kernel_words(&g)];
        pack_kernel(&g, &k, &mut packed);
        // Scratch at an odd offset: the kernel aligns it itself.
        let mut scratch = vec![0i8; scratch_bytes(&g) + 1];
        let requantize: Vec<Requantize> = (0..g.output.c)
            .map(|f| {
                let bias = b.map_or(0, |b| b[f]);
                Requantize::new(bias, multipliers[f], q.output_zero_point, q.clamp)
            })
            .collect();
        for &isa in &isas {
            let mut got = vec![55i8; n_out];
            conv2d_int8_packed(
                isa,
                &g,
                &x,
                &packed,
                &requantize,
                q.input_zero_point,
                &mut got,
                layout,
                &mut scratch[1..],
            );
            assert_eq!(got, want, "case {case}, {isa:?}: {g:?}, layout {layout:?}");
        }
        tails += usize::from(!(g.output.h * g.output.w).is_multiple_of(PIXELS));

        // The same conv computed over its own input, the input placed
        // `overwrite_gap` bytes after the output's start (which is itself
        // a few bytes into the buffer): the same output in the layout's
        // columns (the others hold what was there, input or filler).
        let gap = overwrite_gap(&g, layout);
        let run_over_input = |gap: usize, isa: Isa| {
            let out_at = case % 3;
            let x_at = out_at + gap;
            let mut buf = vec![77i8; (x_at + x.len()).max(out_at + n_out) + 2];
            buf[x_at..][..x.len()].copy_from_slice(&x);
            let mut scratch = vec![0i8; scratch_bytes(&g)];
            let zp = q.input_zero_point;
            if gap >= overwrite_gap(&g, layout) {
                let at = OverInput::new(g, layout, x_at, out_at);
                conv2d_int8_over_input(isa, &at, &mut buf, &packed, &requantize, zp, &mut scratch);
            } else {
                // Too close for `OverInput::new`: the loop itself.
                let io = Overlapping {
                    buf: &mut buf,
                    x_at,
                    x_len: x.len(),
                    out_at,
                };
                packed_conv(isa, &g, io, &packed, &requantize, zp, layout, &mut scratch);
            }
            let got = buf[out_at..][..n_out].to_vec();
            (got, buf)
        };
        let out_at = case % 3;
        let mut over = Vec::new();
        for &isa in &isas {
            let buf;
            (over, buf) = run_over_input(gap, isa);
            for (p, (o, w)) in over.chunks(layout.0).zip(want.chunks(layout.0)).enumerate() {
                let cols = layout.1..layout.1 + g.output.c;
                assert_eq!(
                    o[cols.clone()],
                    w[cols],
                    "case {case}, {isa:?}: over its input (gap {gap}), pixel {p}: {g:?}, layout {layout:?}"
                );
            }
            assert!(
                buf[..out_at].iter().all(|&b| b == 77),
                "case {case}, {isa:?}: wrote before the output"
            );
        }
        // The gap is the least that works: one byte closer and the last
        // block to limit it overwrites an input byte a later block reads.
        if gap > 0 {
            let (closer, _) = run_over_input(gap - 1, isas[0]);
            too_close_differs += usize::from(closer != over);
            gaps += 1;
        }
    }
    assert!(tails > cases / 8, "partial pixel blocks exercised: {tails}");
    // Proportions of 400 cases (Miri's dozen are too few to hold them).
    if !cfg!(miri) {
        assert!(gaps > cases / 4, "geometries with a gap: {gaps}");
        // Most, not all: the byte written can equal the input byte it
        // replaces, and one changed input often leaves a saturated output
        // (the random clamps and multipliers saturate many) as it was; 87%
        // here.
        assert!(
            too_close_differs * 4 > gaps * 3,
            "one byte short of the gap changed {too_close_differs} of {gaps} outputs"
        );
    }
    let kernels: Vec<&str> = isas.iter().map(|&i| kernel(i)).collect();
    std::eprintln!(
        "qgemm: {cases} random geometries equal the reference on the tiles {kernels:?} \
         (ISAs {isas:?}), also computed over their own input ({gaps} with a gap, \
         {too_close_differs} wrong one byte closer)"
    );
}

#[test]
#[should_panic(expected = "the input starts too close after the output")]
fn an_input_too_close_after_the_output_is_refused() {
    // 2x upsampling 3x3 same conv, 16x16x64 -> 32x32x32 (the seed U-Net's up4).
    let g = Conv2dGeom {
        input: Hwc {
            h: 16,
            w: 16,
            c: 64,
        },
        upsample: (2, 2),
        output: Hwc {
            h: 32,
            w: 32,
            c: 32,
        },
        kernel: (3, 3),
        strides: (1, 1),
        dilation: (1, 1),
        pad: (1, 1),
        groups: 1,
        activation: Activation::Linear,
    };
    let gap = overwrite_gap(&g, (32, 0));
    // A little more than half the output: its last row's first block
    // must not overwrite the input row it still reads.
    assert!(gap > 16 * 1024 && gap < 17 * 1024, "{gap}");
    let _ = OverInput::new(g, (32, 0), 10 + gap - 1, 10);
}

#[test]
fn packing_puts_four_k_of_one_filter_in_a_word() {
    let g = Conv2dGeom {
        input: Hwc { h: 1, w: 1, c: 5 },
        upsample: (1, 1),
        output: Hwc { h: 1, w: 1, c: 3 },
        kernel: (1, 1),
        strides: (1, 1),
        dilation: (1, 1),
        pad: (0, 0),
        groups: 1,
        activation: Activation::Linear,
    };
    // kernel[k * 3 + f] = 10 * k + f
    let k: Vec<i8> = (0..15).map(|i| (10 * (i / 3) + i % 3) as i8).collect();
    let mut p = vec![0i32; packed_kernel_words(&g)];
    pack_kernel(&g, &k, &mut p);
    assert_eq!(padded_k(&g), 16);
    assert_eq!(p.len(), 2 * 2 * 4);
    let bytes = |w: i32| w.to_le_bytes();
    assert_eq!(bytes(p[0]), [0, 10, 20, 30], "pair 0, k 0..4, filter 0");
    assert_eq!(bytes(p[1]), [1, 11, 21, 31], "pair 0, k 0..4, filter 1");
    assert_eq!(bytes(p[2]), [40, 0, 0, 0], "pair 0, k 4..8, filter 0");
    assert_eq!(bytes(p[8]), [2, 12, 22, 32], "pair 1, k 0..4, filter 2");
    assert_eq!(bytes(p[9]), [0, 0, 0, 0], "filter 3 is padding");
}

#[test]
fn the_one_saturating_product_saturates_on_every_tile() {
    // `acc + bias == i32::MIN` by `i32::MIN` is gemmlowp's one saturating
    // doubling high multiply (i32::MAX, so the clamp's 127), which the
    // random geometries almost never reach.
    let g = Conv2dGeom {
        input: Hwc { h: 1, w: 4, c: 4 },
        upsample: (1, 1),
        output: Hwc { h: 1, w: 4, c: 3 },
        kernel: (1, 1),
        strides: (1, 1),
        dilation: (1, 1),
        pad: (0, 0),
        groups: 1,
        activation: Activation::Linear,
    };
    let (x, k) = (vec![9i8; g.input.len()], vec![0i8; g.kernel_len()]);
    let bias = [i32::MIN, i32::MIN, 0];
    let multipliers = [QuantizedMultiplier {
        multiplier: i32::MIN,
        shift: 0,
    }; 3];
    let q = Conv2dInt8Quant {
        input_zero_point: 1,
        output_zero_point: 0,
        multipliers: &multipliers,
        clamp: (-128, 127),
    };
    let mut want = vec![0i8; g.output.len()];
    conv2d_int8_into(&g, &x, &k, Some(&bias), &q, &mut want, (3, 0));
    assert_eq!(want[..3], [127, 127, 0], "the reference saturates");
    let mut packed = vec![0i32; packed_kernel_words(&g)];
    pack_kernel(&g, &k, &mut packed);
    let rq: Vec<Requantize> = (0..3)
        .map(|f| Requantize::new(bias[f], multipliers[f], 0, q.clamp))
        .collect();
    let mut scratch = vec![0i8; scratch_bytes(&g)];
    for isa in crate::testing::isas_under_test("qgemm saturation") {
        let mut got = vec![0i8; g.output.len()];
        conv2d_int8_packed(isa, &g, &x, &packed, &rq, 1, &mut got, (3, 0), &mut scratch);
        assert_eq!(got, want, "{isa:?} ({})", kernel(isa));
    }
}
