//! Fully connected layer, Keras `Dense` (kernel `[features, units]`), applied to
//! each row of `features` values.

use crate::exec::Exec;
use crate::igemm::{Isa, PARALLEL_MIN_MACS};
use crate::Activation;

/// `out[r, u] = act(bias[u] + sum_i x[r, i] * kernel[i, u])` for every row `r`,
/// on the calling thread with the best ISA this CPU has.
pub fn dense(
    features: usize,
    units: usize,
    act: Activation,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    dense_on(
        &mut Exec::serial(),
        features,
        units,
        act,
        x,
        kernel,
        bias,
        out,
    )
}

/// [`dense`] on `exec`'s ISA and threads. A single row (batch 1, the usual
/// case: a matrix-vector product bound by reading the kernel) is split into
/// ranges of units, one per task; several rows are split by rows. Every
/// output is summed over `i` in order whatever the split, so results do not
/// depend on the thread count.
///
/// Panics if a slice length differs from `features` and `units`.
#[allow(clippy::too_many_arguments)]
pub fn dense_on(
    exec: &mut Exec,
    features: usize,
    units: usize,
    act: Activation,
    x: &[f32],
    kernel: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    assert_eq!(kernel.len(), features * units, "dense: kernel length");
    if let Some(b) = bias {
        assert_eq!(b.len(), units, "dense: bias length");
    }
    if units == 0 {
        return;
    }
    let rows = out.len() / units;
    assert_eq!(out.len(), rows * units, "dense: output length");
    assert_eq!(x.len(), rows * features, "dense: input length");
    let isa = exec.isa();
    let isa = if isa.available() { isa } else { Isa::Scalar };
    let cx = Ctx {
        features,
        units,
        act,
        kernel,
        bias,
    };
    let threads = exec.threads();
    if threads == 1 || rows * features * units < PARALLEL_MIN_MACS {
        for (r, orow) in out.chunks_exact_mut(units).enumerate() {
            run(isa, &cx, &x[r * features..][..features], 0, orow);
        }
    } else if rows == 1 {
        // Ranges of whole 16-unit vectors.
        let chunk = units.div_ceil(16 * threads) * 16;
        exec.for_each_chunk(out, chunk, &|i, o| run(isa, &cx, x, i * chunk, o));
    } else {
        exec.for_each_chunk(out, units, &|r, o| {
            run(isa, &cx, &x[r * features..][..features], 0, o)
        });
    }
}

struct Ctx<'a> {
    features: usize,
    units: usize,
    act: Activation,
    kernel: &'a [f32],
    bias: Option<&'a [f32]>,
}

/// Units `u0..u0 + out.len()` of one row `x`, on `isa` (available).
fn run(isa: Isa, cx: &Ctx<'_>, x: &[f32], u0: usize, out: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX-512F (the caller checked `available`).
        Isa::Avx512 => unsafe { units_avx512(cx, x, u0, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX2 and FMA (the caller checked `available`).
        Isa::Avx2Fma => unsafe { units_avx2(cx, x, u0, out) },
        _ => units(cx, x, u0, out),
    }
}

/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn units_avx512(cx: &Ctx<'_>, x: &[f32], u0: usize, out: &mut [f32]) {
    units(cx, x, u0, out)
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn units_avx2(cx: &Ctx<'_>, x: &[f32], u0: usize, out: &mut [f32]) {
    units(cx, x, u0, out)
}

/// Units `u0..u0 + out.len()` of one row: the kernel streamed row by row
/// (`i` outside, units inside: contiguous reads of what dominates the time),
/// four kernel rows per sweep of the output so that the output, in L1, is
/// loaded and stored a quarter as often. Each output still adds its terms in
/// order of `i`.
#[inline(always)]
fn units(cx: &Ctx<'_>, x: &[f32], u0: usize, out: &mut [f32]) {
    let n = out.len();
    match cx.bias {
        Some(b) => out.copy_from_slice(&b[u0..u0 + n]),
        None => out.fill(0.0),
    }
    let row = |i: usize| &cx.kernel[i * cx.units + u0..][..n];
    let mut i = 0;
    while i + 4 <= cx.features {
        let (k0, k1, k2, k3) = (row(i), row(i + 1), row(i + 2), row(i + 3));
        let (x0, x1, x2, x3) = (x[i], x[i + 1], x[i + 2], x[i + 3]);
        for ((((o, a), b), c), d) in out.iter_mut().zip(k0).zip(k1).zip(k2).zip(k3) {
            *o = (((*o + x0 * a) + x1 * b) + x2 * c) + x3 * d;
        }
        i += 4;
    }
    for (i, &xi) in x.iter().enumerate().skip(i) {
        for (o, &k) in out.iter_mut().zip(row(i)) {
            *o += xi * k;
        }
    }
    cx.act.apply_inline(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_values() {
        // x = [1, 2]; kernel = [[1, 0, -1], [2, 1, 0]]; bias = [0.5, 0, 0].
        let mut out = [0.0; 3];
        dense(
            2,
            3,
            Activation::Linear,
            &[1.0, 2.0],
            &[1.0, 0.0, -1.0, 2.0, 1.0, 0.0],
            Some(&[0.5, 0.0, 0.0]),
            &mut out,
        );
        assert_eq!(out, [5.5, 2.0, -1.0]);
        dense(
            2,
            3,
            Activation::Relu,
            &[1.0, 2.0],
            &[1.0, 0.0, -1.0, 2.0, 1.0, 0.0],
            None,
            &mut out,
        );
        assert_eq!(out, [5.0, 2.0, 0.0]);
    }

    #[test]
    fn rows_are_independent() {
        // Two rows of one feature, two units.
        let mut out = [0.0; 4];
        dense(
            1,
            2,
            Activation::Linear,
            &[1.0, -3.0],
            &[2.0, 3.0],
            None,
            &mut out,
        );
        assert_eq!(out, [2.0, 3.0, -6.0, -9.0]);
    }
}
