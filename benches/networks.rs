//! Whole-network `forward` on the fixture networks (one thread, batch 1):
//! `cargo bench --bench networks`. Throughput is in conv FLOP (2 x MACs), as
//! the anchors count them, so "elem/s" reads as FLOP/s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

#[path = "../tests/common/mod.rs"]
mod common;
use common::*;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward");
    group.sample_size(50);

    let net = SkipUNet::from_safetensors(&fixture("seed_unet", "weights.safetensors")).unwrap();
    let mut ws = SkipUNet::workspace();
    let x = Box::new([0.5f32; 3072]);
    group.throughput(Throughput::Elements(88_330_000));
    group.bench_function("seed_unet 32x32x3", |b| {
        b.iter(|| black_box(net.forward(&mut ws, black_box(&x)))[0])
    });

    let net = ApesNet::from_safetensors(&fixture("apes_net", "weights.safetensors")).unwrap();
    let mut ws = ApesNet::workspace();
    let x: Box<[f32; 65536]> = vec![0.5f32; 65536].into_boxed_slice().try_into().unwrap();
    // 64x64: 16->16 3x3 + 1x1; 32x32: 16->32 3x3 + 1x1; 32x32: 32->4 1x1.
    let flops =
        2 * (64 * 64 * 16 * (9 * 16 + 16) + 32 * 32 * 32 * (9 * 16 + 16) + 32 * 32 * 4 * 32);
    group.throughput(Throughput::Elements(flops as u64));
    group.bench_function("apes_net 64x64x16", |b| {
        b.iter(|| black_box(net.forward(&mut ws, black_box(&x)))[0])
    });

    let net =
        ApesBlockNet::from_safetensors(&fixture("apes_block_net", "weights.safetensors")).unwrap();
    let mut ws = ApesBlockNet::workspace();
    group.throughput(Throughput::Elements(201_000_000));
    group.bench_function("apes_block_net 64x64x16", |b| {
        b.iter(|| black_box(net.forward(&mut ws, black_box(&x)))[0])
    });

    // The int8 seed U-Net (`#[quantized]`) on each int8 tile this machine
    // runs (`Isa::Scalar`: the portable one), in multiply-adds x 2 as above.
    let net =
        SeedUNetInt8::from_safetensors(&fixture("int8/seed_unet", "weights.safetensors")).unwrap();
    let mut ws = SeedUNetInt8::workspace();
    let x = Box::new([3i8; 3072]);
    group.throughput(Throughput::Elements(2 * 44_163_072));
    let kernel = skipnet_runtime::qgemm::kernel;
    for isa in [
        skipnet::Isa::Avx512,
        skipnet::Isa::Avx2Fma,
        skipnet::Isa::Neon,
        skipnet::Isa::Scalar,
    ] {
        // Avx512 only where it has its own int8 conv (VNNI).
        let repeated = isa == skipnet::Isa::Avx512 && kernel(isa) == kernel(skipnet::Isa::Avx2Fma);
        if !isa.available() || repeated {
            continue;
        }
        ws.set_isa(isa).unwrap();
        let name = format!("seed_unet int8 32x32x3 ({})", kernel(isa));
        group.bench_function(name, |b| {
            b.iter(|| black_box(net.forward(&mut ws, black_box(&x)))[0])
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
