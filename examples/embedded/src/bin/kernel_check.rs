//! The kernel check: random convolution geometries run through the tile
//! kernel this target picks (`Isa::detect()`: on `thumbv7em-none-eabihf` the
//! Cortex-M kernel, `skipnet-runtime/src/igemm/cortex_m.rs`) and compared
//! element by element with a float64 loop written here, on the device. The
//! host test suite cannot run that kernel (it is Cortex-M assembly), so CI
//! boots this firmware under QEMU (`.ci/run`):
//!
//! ```text
//! cargo build --release -p skipnet-embedded-example --target thumbv7em-none-eabihf --bin kernel-check
//! qemu-system-arm -M mps2-an386 -nographic -semihosting-config enable=on,target=native \
//!     -kernel target/thumbv7em-none-eabihf/release/kernel-check
//! ```
//!
//! Paths covered: the direct implicit GEMM (any kernel size up to 5, strides,
//! dilation, groups, a folded nearest upsample, padding or none, channel
//! counts that are and are not multiples of the kernel's 4-channel step,
//! partial filter panels), written into a slice of a wider map (a concat
//! slot) whose other channels must stay untouched; and Winograd F(2x2) and
//! F(4x4) on stride-1 3x3 layers (the same kernel runs its products).
//! Then the int8 conv (`skipnet_runtime::qgemm`, on this target its `SMLAD`
//! assembly tile) against the reference loop on random groups-1 geometries,
//! byte for byte.
//!
//! Tolerance, as `skipnet-runtime/tests/kernel_props.rs` states it: with
//! `mag = sum |x * w| + |bias|` per output, `|got - want| <= rel * mag +
//! 1e-6`, `rel` 1e-5 for the direct path, 1e-5 (F2) and 2e-5 (F4) for
//! Winograd with `mag` the largest of the output's tile. A NaN or an
//! infinity never passes. On the host the same binary checks the kernel
//! `Isa::detect()` picks in this `no_std` build (the portable one, unless
//! the build enables AVX2 or AVX-512 at compile time).
#![cfg_attr(target_os = "none", no_std, no_main)]

use skipnet::Isa;
use skipnet_runtime::exec::Exec;
use skipnet_runtime::igemm::{self, OutLayout};
use skipnet_runtime::ops::conv2d::Conv2dGeom;
use skipnet_runtime::ops::Hwc;
use skipnet_runtime::winograd::{self, WinogradGeom, WinogradTile};
use skipnet_runtime::Activation;

/// Random cases per run (about 10 s under QEMU without `-icount`).
const CASES: usize = 300;

/// Largest operands a case may have (the buffers live on the stack).
const MAX_X: usize = 4096;
const MAX_KERNEL: usize = 16384;
const MAX_PACKED: usize = 32768;
const MAX_OUT: usize = 4096;
const MAX_SCRATCH: usize = 32768;

/// Floats of the wider map the output is written into, past the layer's own
/// channels (a concat slot): they must keep this value.
const SENTINEL: f32 = -7777.25;

/// The runtime's SplitMix64 (shared with its tests and fuzzers), seeded per
/// run.
use skipnet_runtime::rng::SplitMix64 as Rng;

/// Uniform in [-1, 1).
fn value(rng: &mut Rng) -> f32 {
    (rng.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

/// One case: the layer, how it is computed, and where its output goes.
#[derive(Clone, Copy, Debug)]
struct Case {
    g: Conv2dGeom,
    winograd: Option<WinogradTile>,
    /// Channels of the map the output is a slice of, and the slice's first.
    stride: usize,
    offset: usize,
}

/// Output size and padding along one axis (TF `same`, or `valid`), or
/// `None` when a `valid` window does not fit.
fn axis(n_up: usize, k: usize, s: usize, d: usize, same: bool) -> Option<(usize, usize)> {
    let k_eff = (k - 1) * d + 1;
    if same {
        let out = n_up.div_ceil(s);
        let pad = ((out - 1) * s + k_eff).saturating_sub(n_up) / 2;
        Some((out, pad))
    } else {
        (n_up >= k_eff).then(|| ((n_up - k_eff) / s + 1, 0))
    }
}

/// A random case that fits the buffers.
fn draw(rng: &mut Rng) -> Case {
    loop {
        let winograd = match rng.range(0, 5) {
            0 => Some(WinogradTile::F2),
            1 => Some(WinogradTile::F4),
            _ => None,
        };
        let groups = if winograd.is_none() && rng.one_in(5) {
            rng.range(2, 3)
        } else {
            1
        };
        let cin = groups * rng.range(1, 40 / groups);
        let cout = groups * rng.range(1, 40 / groups);
        let up = if rng.one_in(4) { 2 } else { 1 };
        let (k, s, d) = if winograd.is_some() {
            ((3, 3), 1, (1, 1))
        } else {
            let side = |r: &mut Rng| [1, 2, 3, 3, 5][r.range(0, 4)];
            let dil = |r: &mut Rng| if r.one_in(5) { 2 } else { 1 };
            (
                (side(rng), side(rng)),
                rng.range(1, 2),
                (dil(rng), dil(rng)),
            )
        };
        let same = rng.one_in(2);
        let (h, w) = (rng.range(1, 9), rng.range(1, 9));
        let (Some((oh, ph)), Some((ow, pw))) = (
            axis(h * up, k.0, s, d.0, same),
            axis(w * up, k.1, s, d.1, same),
        ) else {
            continue;
        };
        let acts = [Activation::Linear, Activation::Relu, Activation::Relu6];
        let g = Conv2dGeom {
            input: Hwc { h, w, c: cin },
            upsample: (up, up),
            output: Hwc {
                h: oh,
                w: ow,
                c: cout,
            },
            kernel: k,
            strides: (s, s),
            dilation: d,
            pad: (ph, pw),
            groups,
            activation: acts[rng.range(0, 2)],
        };
        let extra = if rng.one_in(3) { rng.range(1, 7) } else { 0 };
        let offset = if extra > 0 { rng.range(0, extra) } else { 0 };
        let case = Case {
            g,
            winograd,
            stride: cout + extra,
            offset,
        };
        let packed = match winograd {
            Some(tile) => WinogradGeom { conv: g, tile }.packed_kernel_len(),
            None => igemm::packed_len(&g),
        };
        let scratch = winograd.map_or(0, |tile| WinogradGeom { conv: g, tile }.scratch_len());
        if g.input.len() <= MAX_X
            && g.kernel_len() <= MAX_KERNEL
            && packed <= MAX_PACKED
            && oh * ow * case.stride <= MAX_OUT
            && scratch <= MAX_SCRATCH
        {
            return case;
        }
    }
}

/// `activation` in float64 (the clamps the check draws).
fn act64(a: Activation, v: f64) -> f64 {
    match a {
        Activation::Relu => v.max(0.0),
        Activation::Relu6 => v.clamp(0.0, 6.0),
        _ => v,
    }
}

/// Output element `(oy, ox, f)` of the case in float64: its value before
/// the activation and its `mag` (`sum |x * w| + |bias|`).
fn reference(g: &Conv2dGeom, x: &[f32], kernel: &[f32], bias: &[f32], e: usize) -> (f64, f64) {
    let (inp, o) = (g.input, g.output);
    let (p, f) = (e / o.c, e % o.c);
    let (oy, ox) = (p / o.w, p % o.w);
    let (cin_g, cout_g) = (inp.c / g.groups, o.c / g.groups);
    let grp = f / cout_g;
    let (mut sum, mut mag) = (f64::from(bias[f]), f64::from(bias[f]).abs());
    for ky in 0..g.kernel.0 {
        let iy = (oy * g.strides.0 + ky * g.dilation.0) as isize - g.pad.0 as isize;
        if iy < 0 || iy as usize >= inp.h * g.upsample.0 {
            continue;
        }
        for kx in 0..g.kernel.1 {
            let ix = (ox * g.strides.1 + kx * g.dilation.1) as isize - g.pad.1 as isize;
            if ix < 0 || ix as usize >= inp.w * g.upsample.1 {
                continue;
            }
            let (iy, ix) = (iy as usize / g.upsample.0, ix as usize / g.upsample.1);
            for ci in 0..cin_g {
                let xv = f64::from(x[(iy * inp.w + ix) * inp.c + grp * cin_g + ci]);
                let wv = f64::from(kernel[((ky * g.kernel.1 + kx) * cin_g + ci) * o.c + f]);
                sum += xv * wv;
                mag += (xv * wv).abs();
            }
        }
    }
    (sum, mag)
}

/// Runs one case on `isa`; `Err` describes the first wrong element.
fn check(isa: Isa, c: &Case, rng: &mut Rng) -> Result<(), (usize, f32, f64, f64)> {
    let g = &c.g;
    let (o, n_px) = (g.output, g.output.h * g.output.w);
    let mut x = [0.0f32; MAX_X];
    let mut kernel = [0.0f32; MAX_KERNEL];
    let mut bias = [0.0f32; 40];
    for v in x[..g.input.len()]
        .iter_mut()
        .chain(&mut kernel[..g.kernel_len()])
        .chain(&mut bias[..o.c])
    {
        *v = value(rng);
    }
    let (x, kernel, bias) = (&x[..g.input.len()], &kernel[..g.kernel_len()], &bias[..o.c]);
    let mut packed = [0.0f32; MAX_PACKED];
    let mut out = [SENTINEL; MAX_OUT];
    let out = &mut out[..n_px * c.stride];
    let layout = OutLayout {
        stride: c.stride,
        offset: c.offset,
        ..OutLayout::plain(o.c)
    };
    let mut exec = Exec::serial();
    match c.winograd {
        None => {
            let packed = &mut packed[..igemm::packed_len(g)];
            igemm::pack(g, kernel, packed);
            igemm::conv(isa, g, x, packed, Some(bias), out, layout);
        }
        Some(tile) => {
            let wg = WinogradGeom { conv: *g, tile };
            let packed = &mut packed[..wg.packed_kernel_len()];
            winograd::pack_kernel(&wg, kernel, packed);
            let mut scratch = [0.0f32; MAX_SCRATCH];
            let scratch = &mut scratch[..wg.scratch_len()];
            winograd::conv_on(
                &mut exec,
                isa,
                &wg,
                x,
                packed,
                Some(bias),
                out,
                layout,
                scratch,
            );
        }
    }
    let rel = match c.winograd {
        None | Some(WinogradTile::F2) => 1e-5,
        Some(WinogradTile::F4) => 2e-5,
    };
    // Winograd mixes a tile's inputs: its rounding scales with the largest
    // `mag` of the tile's outputs (per filter).
    let t = c.winograd.map_or(1, |tile| tile.m());
    for (p, row) in out.chunks_exact(c.stride).enumerate() {
        for (ch, &got) in row.iter().enumerate() {
            if ch < c.offset || ch >= c.offset + o.c {
                if got.to_bits() != SENTINEL.to_bits() {
                    return Err((p * c.stride + ch, got, f64::from(SENTINEL), 0.0));
                }
                continue;
            }
            let e = p * o.c + ch - c.offset;
            let (sum, _) = reference(g, x, kernel, bias, e);
            let (oy, ox) = (p / o.w, p % o.w);
            let mut mag = 0.0f64;
            for y in oy / t * t..(oy / t * t + t).min(o.h) {
                for xx in ox / t * t..(ox / t * t + t).min(o.w) {
                    let (_, m) = reference(g, x, kernel, bias, (y * o.w + xx) * o.c + e % o.c);
                    mag = mag.max(m);
                }
            }
            let want = act64(g.activation, sum);
            let tol = rel * mag + 1e-6;
            // A NaN or an infinity fails.
            let d = (f64::from(got) - want).abs();
            if d.is_nan() || d > tol {
                return Err((p * c.stride + ch, got, want, tol));
            }
        }
    }
    Ok(())
}

/// Runs every case on `isa`, printing through `say`; the failures' count.
fn run(isa: Isa, mut say: impl FnMut(core::fmt::Arguments<'_>)) -> usize {
    let mut rng = Rng(0x5eed_c0de);
    let (mut failed, mut direct, mut wino) = (0, 0, 0);
    for i in 0..CASES {
        let case = draw(&mut rng);
        if case.winograd.is_some() {
            wino += 1;
        } else {
            direct += 1;
        }
        if let Err((at, got, want, tol)) = check(isa, &case, &mut rng) {
            failed += 1;
            say(format_args!(
                "FAIL case {i}: {case:?}: element {at}: got {got:e}, want {want:e}, tolerance {tol:e}"
            ));
        }
    }
    say(format_args!(
        "kernel check on {isa:?}: {CASES} random cases ({direct} direct, {wino} Winograd), {failed} failed"
    ));
    failed
}

/// Int8 cases per run.
const INT8_CASES: usize = 200;

/// The packed int8 conv (`qgemm`: on this target the `SMLAD` assembly
/// tile) against the reference loop (TFLite's reference kernel, bit for
/// bit) on random groups-1 geometries: every output byte must be equal,
/// the concat slot's other channels untouched. The failures' count.
fn run_int8(isa: Isa, mut say: impl FnMut(core::fmt::Arguments<'_>)) -> usize {
    use skipnet_runtime::ops::conv2d_int8::{conv2d_int8_into, Conv2dInt8Quant};
    use skipnet_runtime::qgemm;
    use skipnet_runtime::quant::{QuantizedMultiplier, Requantize};
    let mut rng = Rng(0x1a7e_5eed);
    let mut failed = 0;
    for i in 0..INT8_CASES {
        let case = loop {
            let c = draw(&mut rng);
            if c.winograd.is_none() && qgemm::supports(&c.g) {
                break c;
            }
        };
        let g = case.g;
        let mut byte = || (rng.next_u64() >> 56) as u8 as i8;
        let mut x = [0i8; MAX_X];
        let mut k = [0i8; MAX_KERNEL];
        x.iter_mut().for_each(|v| *v = byte());
        k.iter_mut().for_each(|v| *v = byte());
        let (x, k) = (&x[..g.input.len()], &k[..g.kernel_len()]);
        let f = g.output.c;
        let mut bias = [0i32; 64];
        let mut multipliers = [QuantizedMultiplier::new(0.0); 64];
        for j in 0..f {
            bias[j] = (rng.next_u64() % 40_000) as i32 - 20_000;
            multipliers[j] = QuantizedMultiplier::new(1e-4 + (rng.next_u64() % 1000) as f64 * 2e-5);
        }
        let q = Conv2dInt8Quant {
            input_zero_point: (rng.next_u64() % 256) as i32 - 128,
            output_zero_point: (rng.next_u64() % 256) as i32 - 128,
            multipliers: &multipliers[..f],
            clamp: if rng.one_in(2) {
                (-128, 127)
            } else {
                (-30, 100)
            },
        };
        let n = g.output.h * g.output.w * case.stride;
        let layout = (case.stride, case.offset);
        let (mut want, mut got) = ([0x55i8; MAX_OUT], [0x55i8; MAX_OUT]);
        conv2d_int8_into(&g, x, k, Some(&bias[..f]), &q, &mut want[..n], layout);
        let words = qgemm::packed_kernel_words(&g);
        let mut packed = [0i32; MAX_PACKED];
        qgemm::pack_kernel(&g, k, &mut packed[..words]);
        let mut scratch = [0i8; MAX_SCRATCH];
        let mut requantize = [Requantize::new(0, multipliers[0], 0, (0, 0)); 64];
        for j in 0..f {
            requantize[j] = Requantize::new(bias[j], multipliers[j], q.output_zero_point, q.clamp);
        }
        qgemm::conv2d_int8_packed(
            isa,
            &g,
            x,
            &packed[..words],
            &requantize[..f],
            q.input_zero_point,
            &mut got[..n],
            layout,
            &mut scratch[..qgemm::scratch_bytes(&g)],
        );
        if let Some(at) = (0..n).find(|&e| got[e] != want[e]) {
            failed += 1;
            say(format_args!(
                "FAIL int8 case {i}: {case:?}: element {at}: got {}, want {}",
                got[at], want[at]
            ));
        }
    }
    say(format_args!(
        "int8 kernel check on the {} tile: {INT8_CASES} random cases, {failed} failed",
        qgemm::kernel(isa)
    ));
    failed
}

#[cfg(target_os = "none")]
mod firmware {
    use cortex_m_rt::entry;
    use cortex_m_semihosting::hprintln;
    use skipnet_embedded_example::firmware::exit;

    #[entry]
    fn main() -> ! {
        let isa = skipnet::Isa::detect();
        // On this target the check is about the Cortex-M kernel: a build
        // that fell back to the portable one must not pass as if it ran.
        let failed = super::run(isa, |a| hprintln!("{}", a));
        if isa != skipnet::Isa::CortexM {
            hprintln!("FAIL: Isa::detect() is {:?}, not CortexM", isa);
        }
        let failed_int8 = super::run_int8(isa, |a| hprintln!("{}", a));
        let tile = skipnet_runtime::qgemm::kernel(isa);
        let smlad = tile.starts_with("cortex-m");
        if !smlad {
            hprintln!("FAIL: the int8 tile is {}, not the Cortex-M one", tile);
        }
        exit(failed == 0 && isa == skipnet::Isa::CortexM && failed_int8 == 0 && smlad)
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    let failed = run(Isa::detect(), |a| println!("{a}"));
    if failed + run_int8(Isa::detect(), |a| println!("{a}")) > 0 {
        std::process::exit(1);
    }
}
