//! Single layers timed by their fastest call: `cargo bench --bench conv_min
//! [-- <name filter>] [--ms <per layer, default 1500>] [--isa scalar|avx2|avx512|neon]
//! [--cold]`.
//!
//! `--cold`: each call reads the next of enough copies of the packed kernel
//! to fill 256 MiB, so a call's weights come from memory, not from a cache
//! the previous call warmed, as inside a network whose weights exceed the
//! caches (resnet_like_224's 7x7x512 layers: 9.4 MB each).
//!
//! On these VMs criterion's means drift by up to 30% between runs; the
//! fastest of ~1.5 s of calls moves by a few percent, so it is what the
//! before/after figures in `doc/design.md` quote (run the two builds
//! alternately). One thread; the operands stay in cache between calls.

use skipnet_runtime::igemm::{self, Isa, OutLayout};
use skipnet_runtime::ops::conv2d::Conv2dGeom;
use skipnet_runtime::ops::depthwise_conv2d;
use skipnet_runtime::ops::Hwc;
use skipnet_runtime::{Activation, Exec};
use std::time::{Duration, Instant};

/// A `same`-padded `k x k` conv, stride `s`.
fn same(hw: usize, cin: usize, cout: usize, k: usize, s: usize, act: Activation) -> Conv2dGeom {
    let o = hw.div_ceil(s);
    let pad = ((o - 1) * s + k).saturating_sub(hw) / 2;
    Conv2dGeom {
        input: Hwc {
            h: hw,
            w: hw,
            c: cin,
        },
        output: Hwc {
            h: o,
            w: o,
            c: cout,
        },
        kernel: (k, k),
        strides: (s, s),
        dilation: (1, 1),
        pad: (pad, pad),
        groups: 1,
        activation: act,
        upsample: (1, 1),
    }
}

/// A 3x3 depthwise conv (MobileNetV2's), `same` padding.
fn depthwise(hw: usize, c: usize, s: usize) -> Conv2dGeom {
    Conv2dGeom {
        groups: c,
        ..same(hw, c, c, 3, s, Activation::Relu6)
    }
}

/// Deterministic operand values in [-1, 1) (scaled).
fn values(n: usize, mul: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * mul) % 1000) as f32 / 500.0 * scale - scale)
        .collect()
}

/// Calls `f` for `time` and prints the fastest call, the 25th percentile and
/// the median, with GFLOP/s at the fastest.
fn time(name: &str, flops: usize, budget: Duration, mut f: impl FnMut()) {
    let mut times = Vec::new();
    let end = Instant::now() + budget;
    while Instant::now() < end || times.is_empty() {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let (min, p25, med) = (times[0], times[times.len() / 4], times[times.len() / 2]);
    println!(
        "{name:34} min {:9.1} us  p25 {:9.1} us  median {:9.1} us  {:6.1} GFLOP/s (min)",
        min * 1e6,
        p25 * 1e6,
        med * 1e6,
        flops as f64 / min / 1e9
    );
}

fn main() {
    let mut filter = String::new();
    let mut budget = Duration::from_millis(1500);
    let mut isa = Isa::detect();
    let mut cold = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--ms" => {
                let ms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--ms <integer>");
                budget = Duration::from_millis(ms);
            }
            "--cold" => cold = true,
            "--isa" => {
                isa = match args.next().as_deref() {
                    Some("scalar") => Isa::Scalar,
                    Some("avx2") => Isa::Avx2Fma,
                    Some("avx512") => Isa::Avx512,
                    Some("neon") => Isa::Neon,
                    other => panic!("--isa scalar|avx2|avx512|neon, not {other:?}"),
                }
            }
            _ => filter = a,
        }
    }
    assert!(isa.available(), "{isa:?} is not available on this CPU");
    println!(
        "ISA {isa:?}, fastest of {budget:?} of calls per layer, one thread{}",
        if cold { ", weights cold" } else { "" }
    );
    use Activation::{Linear, Relu, Relu6};
    let convs = [
        (
            "mnv2_stem 224x224x3->32 3x3/2",
            same(224, 3, 32, 3, 2, Relu6),
        ),
        (
            "mnv2_e_project 112x112x32->16 1x1",
            same(112, 32, 16, 1, 1, Linear),
        ),
        (
            "mnv2_b1_expand 112x112x16->96 1x1",
            same(112, 16, 96, 1, 1, Relu6),
        ),
        // The 16-channel expand again with its output in L2 (a short
        // reduction: what each tile costs besides its 16 x 16 FMAs), and
        // the same map with 64 input channels.
        ("k16 28x28x16->96 1x1", same(28, 16, 96, 1, 1, Linear)),
        ("k64 28x28x64->96 1x1", same(28, 64, 96, 1, 1, Linear)),
        (
            "mnv2_b2_expand 56x56x24->144 1x1",
            same(56, 24, 144, 1, 1, Relu6),
        ),
        (
            "mnv2_b2_project 56x56x144->24 1x1",
            same(56, 144, 24, 1, 1, Linear),
        ),
        (
            "mnv2_b11_expand 14x14x96->576 1x1",
            same(14, 96, 576, 1, 1, Relu6),
        ),
        (
            "mnv2_head 7x7x320->1280 1x1",
            same(7, 320, 1280, 1, 1, Relu6),
        ),
        ("apes_1x1 64x64x32->32 1x1", same(64, 32, 32, 1, 1, Relu)),
        ("apes_stem 64x64x16->32 3x3", same(64, 16, 32, 3, 1, Relu)),
        ("apes_b1 64x64x32->32 3x3", same(64, 32, 32, 3, 1, Relu)),
        ("unet32_head 32x32x32->3 3x3", same(32, 32, 3, 3, 1, Linear)),
        (
            "resnet_stem 224x224x3->64 7x7/2",
            same(224, 3, 64, 7, 2, Relu),
        ),
        ("resnet_s1 56x56x64->64 3x3", same(56, 64, 64, 3, 1, Relu)),
        (
            "resnet_s3 14x14x256->256 3x3",
            same(14, 256, 256, 3, 1, Relu),
        ),
        ("resnet_s4 7x7x512->512 3x3", same(7, 512, 512, 3, 1, Relu)),
    ];
    for (name, g) in convs {
        if !name.contains(&filter) {
            continue;
        }
        let flops = 2 * g.output.len() * g.kernel.0 * g.kernel.1 * g.input.c;
        let x = values(g.input.len(), 7919, 1.0);
        let kernel = values(g.kernel_len(), 104_729, 0.1);
        let mut packed = vec![0.0; g.packed_kernel_len()];
        igemm::pack(&g, &kernel, &mut packed);
        let copies = if cold {
            (256 << 20) / (4 * packed.len()) + 1
        } else {
            1
        };
        let packed: Vec<Vec<f32>> = (0..copies).map(|_| packed.clone()).collect();
        let bias = vec![0.01; g.output.c];
        let mut out = vec![0.0; g.output.len()];
        let layout = OutLayout::plain(g.output.c);
        let mut call = 0;
        time(name, flops, budget, || {
            let packed = &packed[call % copies];
            call += 1;
            igemm::conv(isa, &g, &x, packed, Some(&bias), &mut out, layout)
        });
    }
    let depthwise_layers = [
        ("dw 112x112x32 3x3", depthwise(112, 32, 1)),
        ("dw 112x112x96 3x3/2", depthwise(112, 96, 2)),
        ("dw 28x28x192 3x3", depthwise(28, 192, 1)),
        ("dw 14x14x576 3x3", depthwise(14, 576, 1)),
    ];
    for (name, g) in depthwise_layers {
        if !name.contains(&filter) {
            continue;
        }
        let flops = 2 * g.output.len() * 9;
        let x = values(g.input.len(), 7919, 1.0);
        let kernel = values(9 * g.output.c, 104_729, 0.1);
        let bias = vec![0.01; g.output.c];
        let mut out = vec![0.0; g.output.len()];
        let mut exec = Exec::serial();
        exec.set_isa(isa).expect("available");
        time(name, flops, budget, || {
            depthwise_conv2d::depthwise_conv2d(&mut exec, &g, &x, &kernel, Some(&bias), &mut out)
        });
    }
}
