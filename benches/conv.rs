//! The conv kernel alone, per ISA, on the layer shapes that dominate the anchor
//! networks. Throughput is in FLOP (2 x MACs), so criterion's "elem/s" reads as
//! FLOP/s: `cargo bench --bench conv`. `cargo bench --bench conv -- peak` measures
//! the one-core FMA peak the kernels are compared with (AVX2, and AVX-512 where
//! the machine has it: the higher of the two is the peak).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use skipnet_runtime::igemm::{self, Isa, OutLayout};
use skipnet_runtime::ops::conv2d::Conv2dGeom;
use skipnet_runtime::ops::Hwc;
use skipnet_runtime::Activation;

/// A `same`-padded conv with stride `s`.
/// `g` with swish as its activation.
fn swish(g: Conv2dGeom) -> Conv2dGeom {
    Conv2dGeom {
        activation: Activation::Swish,
        ..g
    }
}

fn same(h: usize, w: usize, cin: usize, cout: usize, k: usize, s: usize) -> Conv2dGeom {
    let (oh, ow) = (h.div_ceil(s), w.div_ceil(s));
    let pad = |n: usize, o: usize| ((o - 1) * s + k).saturating_sub(n) / 2;
    Conv2dGeom {
        input: Hwc { h, w, c: cin },
        output: Hwc {
            h: oh,
            w: ow,
            c: cout,
        },
        kernel: (k, k),
        strides: (s, s),
        dilation: (1, 1),
        pad: (pad(h, oh), pad(w, ow)),
        groups: 1,
        activation: Activation::Relu,
        upsample: (1, 1),
    }
}

/// FLOP of one call, a deterministic input and the packed kernel.
/// Floats that start on a 64-byte cache line, as a network's tensors (the
/// arena's) and weights do: a `Vec`'s own start is only 16-byte aligned, and
/// an AVX-512 load that straddles two lines costs two.
struct Lined {
    buf: Vec<f32>,
    at: usize,
    len: usize,
}

fn lined(v: Vec<f32>) -> Lined {
    let len = v.len();
    let mut buf = vec![0.0f32; len + 16];
    let at = buf.as_ptr().align_offset(64);
    buf[at..at + len].copy_from_slice(&v);
    Lined { buf, at, len }
}

impl std::ops::Deref for Lined {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[self.at..self.at + self.len]
    }
}

impl std::ops::DerefMut for Lined {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[self.at..self.at + self.len]
    }
}

fn operands(g: &Conv2dGeom) -> (usize, Lined, Lined) {
    let flops = 2 * g.output.len() * g.kernel.0 * g.kernel.1 * g.input.c / g.groups;
    let x: Vec<f32> = (0..g.input.len())
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let kernel: Vec<f32> = (0..g.kernel_len())
        .map(|i| ((i * 104729) % 1000) as f32 / 5000.0 - 0.1)
        .collect();
    let mut packed = vec![0.0; g.packed_kernel_len()];
    igemm::pack(g, &kernel, &mut packed);
    (flops, lined(x), lined(packed))
}

fn bench(c: &mut Criterion) {
    let shapes = [
        ("unet32_up2 8x8x256->64 3x3", same(8, 8, 256, 64, 3, 1)),
        (
            "unet256_up4 256x256x64->32 3x3",
            same(256, 256, 64, 32, 3, 1),
        ),
        (
            "unet256_up3 128x128x128->32 3x3",
            same(128, 128, 128, 32, 3, 1),
        ),
        (
            "unet256_conv1 256x256x3->32 3x3/2",
            same(256, 256, 3, 32, 3, 2),
        ),
        (
            "resnet_stem 224x224x3->64 7x7/2",
            same(224, 224, 3, 64, 7, 2),
        ),
        ("apes_stem 64x64x16->32 3x3", same(64, 64, 16, 32, 3, 1)),
        ("apes_b1 64x64x32->32 3x3", same(64, 64, 32, 32, 3, 1)),
        ("resnet_s1 56x56x64->64 3x3", same(56, 56, 64, 64, 3, 1)),
        ("resnet_s2 28x28x128->128 3x3", same(28, 28, 128, 128, 3, 1)),
        ("resnet_s3 14x14x256->256 3x3", same(14, 14, 256, 256, 3, 1)),
        ("resnet_s4 7x7x512->512 3x3", same(7, 7, 512, 512, 3, 1)),
        ("mnv2_stem 224x224x3->32 3x3/2", same(224, 224, 3, 32, 3, 2)),
        (
            "mnv2_e_project 112x112x32->16 1x1",
            same(112, 112, 32, 16, 1, 1),
        ),
        ("unet32_head 32x32x32->3 3x3", same(32, 32, 32, 3, 3, 1)),
        (
            "mnv2_b1_expand 112x112x16->96 1x1",
            same(112, 112, 16, 96, 1, 1),
        ),
        (
            "mnv2_b2_expand 56x56x24->144 1x1",
            same(56, 56, 24, 144, 1, 1),
        ),
        (
            "mnv2_b2_project 56x56x144->24 1x1",
            same(56, 56, 144, 24, 1, 1),
        ),
        (
            "mnv2_b11_expand 14x14x96->576 1x1",
            same(14, 14, 96, 576, 1, 1),
        ),
        ("mnv2_head 7x7x320->1280 1x1", same(7, 7, 320, 1280, 1, 1)),
        // EfficientNetB0's expand convs end in swish (a wide activation).
        (
            "effb0_b2a_expand 112x112x16->96 1x1 swish",
            swish(same(112, 112, 16, 96, 1, 1)),
        ),
        (
            "effb0_b3a_expand 56x56x24->144 1x1 swish",
            swish(same(56, 56, 24, 144, 1, 1)),
        ),
    ];
    let mut group = c.benchmark_group("conv2d");
    group.sample_size(20);
    for (name, g) in shapes {
        let (flops, x, packed) = operands(&g);
        let bias = vec![0.01; g.output.c];
        let mut out = lined(vec![0.0; g.output.len()]);
        let layout = OutLayout::plain(g.output.c);
        group.throughput(Throughput::Elements(flops as u64));
        for isa in [Isa::Avx512, Isa::Avx2Fma, Isa::Neon, Isa::Scalar] {
            if !isa.available() || (isa == Isa::Scalar && flops > 200_000_000) {
                continue;
            }
            group.bench_with_input(BenchmarkId::new(format!("{isa:?}"), name), &g, |b, g| {
                b.iter(|| igemm::conv(isa, g, &x, &packed, Some(&bias), &mut out, layout))
            });
        }
    }
    group.finish();
}

/// The stride-1 3x3 layers above by Winograd, F(2x2) and F(4x4), on every
/// SIMD ISA this machine has, one thread: `cargo bench --bench conv --
/// winograd`. Throughput counts the direct algorithm's FLOP (2 x 9 x cin x
/// outputs), so "elem/s" is an effective rate comparable with `conv2d`'s and
/// with the peak (it can exceed it).
fn winograd(c: &mut Criterion) {
    use skipnet_runtime::winograd::{self, WinogradGeom, WinogradTile};
    use skipnet_runtime::Exec;
    let shapes = [
        ("unet32_up2 8x8x256->64 3x3", same(8, 8, 256, 64, 3, 1)),
        (
            "unet256_up4 256x256x64->32 3x3",
            same(256, 256, 64, 32, 3, 1),
        ),
        (
            "unet256_up3 128x128x128->32 3x3",
            same(128, 128, 128, 32, 3, 1),
        ),
        ("apes_stem 64x64x16->32 3x3", same(64, 64, 16, 32, 3, 1)),
        ("apes_b1 64x64x32->32 3x3", same(64, 64, 32, 32, 3, 1)),
        ("resnet_s1 56x56x64->64 3x3", same(56, 56, 64, 64, 3, 1)),
        ("resnet_s2 28x28x128->128 3x3", same(28, 28, 128, 128, 3, 1)),
        ("resnet_s3 14x14x256->256 3x3", same(14, 14, 256, 256, 3, 1)),
        ("resnet_s4 7x7x512->512 3x3", same(7, 7, 512, 512, 3, 1)),
    ];
    let mut group = c.benchmark_group("winograd");
    group.sample_size(20);
    for (name, g) in shapes {
        let (flops, x, _) = operands(&g);
        let kernel: Vec<f32> = (0..g.kernel_len())
            .map(|i| ((i * 104729) % 1000) as f32 / 5000.0 - 0.1)
            .collect();
        let bias = vec![0.01; g.output.c];
        let mut out = lined(vec![0.0; g.output.len()]);
        let layout = OutLayout::plain(g.output.c);
        group.throughput(Throughput::Elements(flops as u64));
        for tile in [WinogradTile::F2, WinogradTile::F4] {
            let wg = WinogradGeom { conv: g, tile };
            let mut packed = vec![0.0; wg.packed_kernel_len()];
            winograd::pack_kernel(&wg, &kernel, &mut packed);
            let mut scratch = vec![0.0; wg.scratch_len()];
            for isa in [Isa::Avx512, Isa::Avx2Fma, Isa::Neon] {
                if !isa.available() {
                    continue;
                }
                let mut exec = Exec::serial();
                let id = format!(
                    "{} {isa:?}",
                    if tile == WinogradTile::F2 { "F2" } else { "F4" }
                );
                group.bench_with_input(BenchmarkId::new(id, name), &wg, |b, wg| {
                    b.iter(|| {
                        winograd::conv_on(
                            &mut exec,
                            isa,
                            wg,
                            &x,
                            &packed,
                            Some(&bias),
                            &mut out,
                            layout,
                            &mut scratch,
                        )
                    })
                });
            }
        }
    }
    group.finish();
}

/// Max pooling on the anchors' shapes, on each path (`Isa::Scalar`: the
/// portable loop; an x86 ISA: the AVX2 one), one thread: `cargo bench --bench
/// conv -- max_pool`. Throughput in window reads.
fn max_pool(c: &mut Criterion) {
    use skipnet_runtime::ops::max_pool2d::{max_pool2d_on, Pool2dGeom};
    use skipnet_runtime::Exec;
    let mut group = c.benchmark_group("max_pool");
    group.sample_size(20);
    let pool = |h: usize, c: usize, k: usize, s: usize| Pool2dGeom {
        input: Hwc { h, w: h, c },
        output: Hwc {
            h: h.div_ceil(s),
            w: h.div_ceil(s),
            c,
        },
        pool: (k, k),
        strides: (s, s),
        pad: (
            (((h.div_ceil(s) - 1) * s + k).saturating_sub(h)) / 2,
            (((h.div_ceil(s) - 1) * s + k).saturating_sub(h)) / 2,
        ),
    };
    for (name, g) in [
        ("resnet_pool1 112x112x64 3x3/2", pool(112, 64, 3, 2)),
        ("apes_pool1 64x64x32 2x2/2", pool(64, 32, 2, 2)),
    ] {
        let x: Vec<f32> = (0..g.input.len())
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let mut out = lined(vec![0.0; g.output.len()]);
        group.throughput(Throughput::Elements(
            (g.output.len() * g.pool.0 * g.pool.1) as u64,
        ));
        for isa in [Isa::Avx2Fma, Isa::Neon, Isa::Scalar] {
            if !isa.available() {
                continue;
            }
            let mut exec = Exec::serial();
            exec.set_isa(isa).unwrap();
            group.bench_function(BenchmarkId::new(format!("{isa:?}"), name), |b| {
                b.iter(|| max_pool2d_on(&mut exec, &g, &x, &mut out))
            });
        }
    }
    group.finish();
}

/// The int8 conv (`qgemm`, TFLite's arithmetic) on the seed U-Net's largest
/// layers, on each tile this machine runs (`Isa::Scalar`: the portable one;
/// `Isa::Avx2Fma`: AVX2's byte tile, `vpmaddwd` on widened bytes; `Isa::Avx512` where the CPU has
/// VNNI: the `vpdpbusd` conv), one thread: `cargo bench --bench conv --
/// int8`. Throughput in multiply-adds.
fn int8(c: &mut Criterion) {
    use skipnet_runtime::qgemm;
    use skipnet_runtime::quant::{QuantizedMultiplier, Requantize};
    let mut group = c.benchmark_group("int8");
    group.sample_size(20);
    let up = |h: usize, cin: usize, cout: usize| Conv2dGeom {
        upsample: (2, 2),
        activation: Activation::Linear,
        ..same(h, h, cin, cout, 3, 1)
    };
    // The geometry at the upsampled size, then the input at the stored one.
    let folded = |g: Conv2dGeom| Conv2dGeom {
        input: Hwc {
            h: g.input.h / 2,
            w: g.input.w / 2,
            c: g.input.c,
        },
        ..g
    };
    for (name, g) in [
        (
            "unet32_up4 32x32 (16x16x64 upsampled) -> 32",
            folded(up(32, 64, 32)),
        ),
        (
            "unet32_up3 16x16 (8x8x128 upsampled) -> 32",
            folded(up(16, 128, 32)),
        ),
        (
            "unet32_conv3 16x16x64 -> 128 /2",
            same(16, 16, 64, 128, 3, 2),
        ),
    ] {
        let x: Vec<i8> = (0..g.input.len()).map(|i| (i * 7919 % 251) as i8).collect();
        let k: Vec<i8> = (0..g.kernel_len())
            .map(|i| (i * 104_729 % 253) as i8)
            .collect();
        let mut packed = vec![0i32; qgemm::packed_kernel_words(&g)];
        qgemm::pack_kernel(&g, &k, &mut packed);
        let rq: Vec<Requantize> = (0..g.output.c)
            .map(|f| {
                Requantize::new(
                    f as i32 * 10,
                    QuantizedMultiplier::new(3e-4),
                    -3,
                    (-128, 127),
                )
            })
            .collect();
        let mut scratch = vec![0i8; qgemm::scratch_bytes(&g)];
        let mut out = vec![0i8; g.output.len()];
        let macs = g.output.len() * g.kernel.0 * g.kernel.1 * g.input.c;
        group.throughput(Throughput::Elements(macs as u64));
        for isa in [Isa::Avx512, Isa::Avx2Fma, Isa::Scalar] {
            // Avx512 only where it names its own tile (VNNI).
            let repeated = isa == Isa::Avx512 && qgemm::kernel(isa) == qgemm::kernel(Isa::Avx2Fma);
            if !isa.available() || repeated {
                continue;
            }
            let id = BenchmarkId::new(qgemm::kernel(isa), name);
            group.bench_function(id, |b| {
                b.iter(|| {
                    let layout = (g.output.c, 0);
                    qgemm::conv2d_int8_packed(
                        isa,
                        &g,
                        &x,
                        &packed,
                        &rq,
                        5,
                        &mut out,
                        layout,
                        &mut scratch,
                    )
                })
            });
        }
    }
    group.finish();
}

/// MobileNetV2's depthwise layers (3x3, depth multiplier 1, relu6 in the
/// real net; relu here as above), on the grouped implicit GEMM the macro used
/// to lower them to (`grouped igemm`, one group per channel) and on the
/// dedicated depthwise kernel (`depthwise`), on every ISA this machine has
/// (the portable one: depthwise only), one thread:
/// `cargo bench --bench conv -- depthwise`.
fn depthwise(c: &mut Criterion) {
    use skipnet_runtime::ops::depthwise_conv2d;
    use skipnet_runtime::Exec;
    let dw = |h: usize, ch: usize, s: usize| Conv2dGeom {
        groups: ch,
        ..same(h, h, ch, ch, 3, s)
    };
    let shapes = [
        ("mnv2 112x112x32 3x3", dw(112, 32, 1)),
        ("mnv2 112x112x96 3x3/2", dw(112, 96, 2)),
        ("mnv2 56x56x144 3x3", dw(56, 144, 1)),
        ("mnv2 56x56x144 3x3/2", dw(56, 144, 2)),
        ("mnv2 28x28x192 3x3", dw(28, 192, 1)),
        ("mnv2 14x14x576 3x3", dw(14, 576, 1)),
        ("mnv2 7x7x960 3x3", dw(7, 960, 1)),
        // EfficientNetB0's first depthwise layer, swish after the stores.
        ("effb0 112x112x32 3x3 swish", swish(dw(112, 32, 1))),
        // MobileNetV3Large's 5x5 layers: 120 channels, a tail of 8 on AVX-512.
        (
            "mnv3l 28x28x120 5x5",
            Conv2dGeom {
                groups: 120,
                ..same(28, 28, 120, 120, 5, 1)
            },
        ),
    ];
    let mut group = c.benchmark_group("depthwise");
    group.sample_size(20);
    for (name, g) in shapes {
        let (flops, x, packed) = operands(&g);
        let kernel: Vec<f32> = (0..g.kernel_len())
            .map(|i| ((i * 104729) % 1000) as f32 / 5000.0 - 0.1)
            .collect();
        let bias = vec![0.01; g.output.c];
        let mut out = lined(vec![0.0; g.output.len()]);
        let layout = OutLayout::plain(g.output.c);
        group.throughput(Throughput::Elements(flops as u64));
        for isa in [Isa::Avx512, Isa::Avx2Fma, Isa::Neon, Isa::Scalar] {
            if !isa.available() {
                continue;
            }
            // The grouped path's portable tiles take seconds per layer.
            if isa != Isa::Scalar {
                group.bench_with_input(
                    BenchmarkId::new(format!("grouped igemm {isa:?}"), name),
                    &g,
                    |b, g| {
                        b.iter(|| igemm::conv(isa, g, &x, &packed, Some(&bias), &mut out, layout))
                    },
                );
            }
            let mut exec = Exec::serial();
            group.bench_with_input(
                BenchmarkId::new(format!("depthwise {isa:?}"), name),
                &g,
                |b, g| {
                    b.iter(|| {
                        depthwise_conv2d::depthwise_conv2d_on(
                            &mut exec,
                            isa,
                            g,
                            &x,
                            &kernel,
                            Some(&bias),
                            &mut out,
                            layout,
                        )
                    })
                },
            );
        }
    }
    group.finish();
}

/// The one-core peak the conv GFLOP/s compare with: 12 independent AVX2 FMA
/// chains (two FMA pipes x 4-cycle latency need 8), `ITERS` rounds, 16 FLOP each.
#[cfg(target_arch = "x86_64")]
fn peak(c: &mut Criterion) {
    use std::arch::x86_64::*;
    const ITERS: u64 = 1_000_000;

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fma_chains(a: f32) -> f32 {
        let mut acc = [_mm256_set1_ps(0.0); 12];
        let (x, y) = (_mm256_set1_ps(a), _mm256_set1_ps(0.999_999));
        for _ in 0..ITERS {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(x, *v, y);
            }
        }
        let mut sum = _mm256_setzero_ps();
        for v in acc {
            sum = _mm256_add_ps(sum, v);
        }
        let mut out = [0.0f32; 8];
        // SAFETY: `out` holds the 8 floats the unaligned store writes.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sum) };
        out.iter().sum()
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn fma_chains_512(a: f32) -> f32 {
        let mut acc = [_mm512_set1_ps(0.0); 12];
        let (x, y) = (_mm512_set1_ps(a), _mm512_set1_ps(0.999_999));
        for _ in 0..ITERS {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(x, *v, y);
            }
        }
        let mut sum = _mm512_setzero_ps();
        for v in acc {
            sum = _mm512_add_ps(sum, v);
        }
        _mm512_reduce_add_ps(sum)
    }

    /// Twelve independent `vpdpbusd` chains: the int8 VNNI conv's peak, in
    /// multiply-adds (64 per instruction).
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 VNNI.
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn dpbusd_chains(a: i8) -> i32 {
        let mut acc = [_mm512_setzero_si512(); 12];
        let (x, w) = (_mm512_set1_epi8(a), _mm512_set1_epi8(3));
        for _ in 0..ITERS {
            for v in acc.iter_mut() {
                *v = _mm512_dpbusd_epi32(*v, x, w);
            }
        }
        let mut sum = _mm512_setzero_si512();
        for v in acc {
            sum = _mm512_add_epi32(sum, v);
        }
        _mm512_reduce_add_epi32(sum)
    }

    if !Isa::Avx2Fma.available() {
        return;
    }
    let mut group = c.benchmark_group("peak");
    group.throughput(Throughput::Elements(ITERS * 12 * 16));
    group.bench_function("avx2 fma, 12 chains", |b| {
        // SAFETY: AVX2 and FMA were checked just above.
        b.iter(|| unsafe { fma_chains(std::hint::black_box(1.000_001)) })
    });
    // Machines with two 512-bit FMA pipes (Intel Xeon since Skylake-SP) reach
    // twice the AVX2 figure; Zen 4 splits each 512-bit FMA in two and does not.
    if Isa::Avx512.available() {
        group.throughput(Throughput::Elements(ITERS * 12 * 32));
        group.bench_function("avx512 fma, 12 chains", |b| {
            // SAFETY: AVX-512F was checked just above.
            b.iter(|| unsafe { fma_chains_512(std::hint::black_box(1.000_001)) })
        });
    }
    // The int8 VNNI conv's ceiling (`qgemm`'s `vnni.rs`), in multiply-adds.
    if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vnni") {
        group.throughput(Throughput::Elements(ITERS * 12 * 64));
        group.bench_function("avx512-vnni vpdpbusd, 12 chains (multiply-adds)", |b| {
            // SAFETY: AVX-512F and VNNI were checked just above.
            b.iter(|| unsafe { dpbusd_chains(std::hint::black_box(2)) })
        });
    }
    group.finish();
}

#[cfg(not(target_arch = "x86_64"))]
fn peak(_: &mut Criterion) {}

/// `--features parallel`: the big layers on one and on two threads of a pool
/// (`cargo bench --bench conv --features parallel -- threads`).
#[cfg(feature = "parallel")]
fn threads(c: &mut Criterion) {
    use skipnet_runtime::Exec;
    let shapes = [
        (
            "unet256_up4 256x256x64->32 3x3",
            same(256, 256, 64, 32, 3, 1),
        ),
        (
            "resnet_stem 224x224x3->64 7x7/2",
            same(224, 224, 3, 64, 7, 2),
        ),
        ("apes_stem 64x64x16->32 3x3", same(64, 64, 16, 32, 3, 1)),
        ("apes_b3 16x16x64->64 3x3", same(16, 16, 64, 64, 3, 1)),
        ("resnet_s1 56x56x64->64 3x3", same(56, 56, 64, 64, 3, 1)),
        ("resnet_s3 14x14x256->256 3x3", same(14, 14, 256, 256, 3, 1)),
        ("resnet_s4 7x7x512->512 3x3", same(7, 7, 512, 512, 3, 1)),
    ];
    let mut group = c.benchmark_group("threads");
    group.sample_size(20);
    for (name, g) in shapes {
        let (flops, x, packed) = operands(&g);
        let mut out = lined(vec![0.0; g.output.len()]);
        let layout = OutLayout::plain(g.output.c);
        group.throughput(Throughput::Elements(flops as u64));
        for n in [1, 2] {
            let mut exec = Exec::with_threads(n);
            group.bench_with_input(BenchmarkId::new(format!("{n}t"), name), &g, |b, g| {
                b.iter(|| {
                    igemm::conv_on(
                        &mut exec,
                        Isa::detect(),
                        g,
                        &x,
                        &packed,
                        None,
                        &mut out,
                        layout,
                    )
                })
            });
        }
    }
    group.finish();
}

#[cfg(not(feature = "parallel"))]
fn threads(_: &mut Criterion) {}

/// `--features parallel`: why the pool gives each thread its own contiguous
/// range of a job's tasks (`exec` module docs). A chain of eight
/// memory-bound passes, each reading the previous pass's output and writing
/// its own, cut into contiguous chunks as consecutive layers cut their pixels
/// into tasks, on two threads: every pass in 16 tasks ("same cut"), or in 16
/// and 6 tasks in turn ("cuts alternate", as layers of different shapes are
/// cut). With owned ranges each thread reads, in both, what it wrote itself
/// (still in its core's cache); when tasks were claimed in turn from one
/// shared counter, the threads took alternate tasks, so the chunks of two
/// different cuts crossed over between them: `cargo bench --bench conv
/// --features parallel -- pool_locality`.
#[cfg(feature = "parallel")]
fn pool_locality(c: &mut Criterion) {
    use skipnet_runtime::Exec;
    use std::sync::Mutex;
    let mut group = c.benchmark_group("pool_locality");
    group.sample_size(30);
    let mut exec = Exec::with_threads(2);
    for floats in [100_000usize, 400_000] {
        let mut a = lined(vec![1.0; floats]);
        let mut b = lined(vec![0.0; floats]);
        group.throughput(Throughput::Bytes((8 * floats * 8) as u64));
        for (name, cuts) in [("same cut", [16, 16]), ("cuts alternate", [16, 6])] {
            group.bench_function(BenchmarkId::new(name, floats * 4), |bench| {
                bench.iter(|| {
                    for pass in 0..8 {
                        let (src, dst) = if pass % 2 == 0 {
                            (&*a, &mut *b)
                        } else {
                            (&*b, &mut *a)
                        };
                        let chunk = floats.div_ceil(cuts[pass % 2]);
                        // Each task takes its own chunk's (uncontended) lock.
                        let dst: Vec<Mutex<&mut [f32]>> =
                            dst.chunks_mut(chunk).map(Mutex::new).collect();
                        exec.run(dst.len(), &|i| {
                            let mut out = dst[i].lock().unwrap();
                            for (o, x) in out.iter_mut().zip(&src[i * chunk..]) {
                                *o = x * 0.999 + 0.001;
                            }
                        });
                    }
                })
            });
        }
    }
    group.finish();
}

#[cfg(not(feature = "parallel"))]
fn pool_locality(_: &mut Criterion) {}

/// ConvNeXt-Tiny's MLP at 224x224 (stage 1: 56x56x96 -> 384 -> 96) as the
/// macro used to run a `dense` on a map (`ops::dense`, one matrix-vector
/// product per pixel) and as it runs it now (the 1x1 conv, `Op::lowered`),
/// on the best ISA, one thread: `cargo bench --bench conv -- dense_on_map`.
fn dense_on_map(c: &mut Criterion) {
    use skipnet_runtime::ops::dense;
    use skipnet_runtime::Exec;
    let mut group = c.benchmark_group("dense_on_map");
    group.sample_size(10);
    let isa = Isa::detect();
    for (name, hw, cin, units) in [
        ("convnext_s1 56x56x96->384", 56, 96, 384),
        ("convnext_s1 56x56x384->96", 56, 384, 96),
    ] {
        let g = same(hw, hw, cin, units, 1, 1);
        let (flops, x, packed) = operands(&g);
        let kernel: Vec<f32> = (0..cin * units)
            .map(|i| ((i * 104729) % 1000) as f32 / 5000.0 - 0.1)
            .collect();
        let bias = vec![0.01; units];
        let mut out = lined(vec![0.0; g.output.len()]);
        group.throughput(Throughput::Elements(flops as u64));
        let mut exec = Exec::serial();
        group.bench_function(BenchmarkId::new("dense per pixel", name), |b| {
            b.iter(|| {
                dense::dense_on(
                    &mut exec,
                    cin,
                    units,
                    Activation::Relu,
                    &x,
                    &kernel,
                    Some(&bias),
                    &mut out,
                )
            })
        });
        let layout = OutLayout::plain(units);
        group.bench_function(BenchmarkId::new("1x1 conv", name), |b| {
            b.iter(|| igemm::conv(isa, &g, &x, &packed, Some(&bias), &mut out, layout))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench,
    peak,
    threads,
    pool_locality,
    max_pool,
    int8,
    depthwise,
    winograd,
    dense_on_map
);
criterion_main!(benches);
