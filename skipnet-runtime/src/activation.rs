//! Element-wise activations, applied in the epilogue of a layer or standalone.

/// An activation function with Keras semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// Identity (`activation = linear`, Keras' default).
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `x` if `x > 0`, else `exp(x) - 1` (alpha 1, Keras' `elu`).
    Elu,
    /// Keras 3's `relu6(x + 3) / 6`.
    HardSigmoid,
    /// `x * sigmoid(x)` (Keras' `swish` / `silu`).
    Swish,
    /// `0.5 x (1 + erf(x / sqrt 2))`: Keras' `gelu` default (`approximate=False`).
    Gelu,
    /// Keras 3's `hard_silu` (alias `hard_swish`): `x * hard_sigmoid(x)`,
    /// MobileNetV3's activation.
    HardSilu,
}

impl Activation {
    /// `Some((lo, hi))` when the activation is `x` limited to `lo..=hi`
    /// with NaN kept (linear, relu, relu6): what conv kernels compute in
    /// registers as `min(hi, max(lo, x))`.
    pub(crate) const fn clamp_bounds(self) -> Option<(f32, f32)> {
        match self {
            Activation::Linear => Some((f32::NEG_INFINITY, f32::INFINITY)),
            Activation::Relu => Some((0.0, f32::INFINITY)),
            Activation::Relu6 => Some((0.0, 6.0)),
            _ => None,
        }
    }

    /// Applies the activation to every element of `v` in place.
    ///
    /// The `match` is outside the loop so each arm is a tight, vectorizable loop.
    #[inline]
    pub fn apply(self, v: &mut [f32]) {
        match self {
            Activation::Linear => {}
            Activation::Relu => v.iter_mut().for_each(|x| *x = relu(*x)),
            Activation::Sigmoid => v.iter_mut().for_each(|x| *x = sigmoid(*x)),
            Activation::Tanh => v.iter_mut().for_each(|x| *x = libm::tanhf(*x)),
            Activation::Relu6 => v.iter_mut().for_each(|x| *x = relu6(*x)),
            // `x <= 0` is false for NaN, which then passes through unchanged.
            Activation::Elu => v.iter_mut().for_each(|x| {
                if *x <= 0.0 {
                    *x = libm::expm1f(*x)
                }
            }),
            Activation::HardSigmoid => v.iter_mut().for_each(|x| *x = relu6(*x + 3.0) / 6.0),
            Activation::Swish => v.iter_mut().for_each(|x| *x *= sigmoid(*x)),
            Activation::HardSilu => v.iter_mut().for_each(|x| *x *= relu6(*x + 3.0) / 6.0),
            Activation::Gelu => v.iter_mut().for_each(|x| {
                *x = 0.5 * *x * (1.0 + libm::erff(*x * core::f32::consts::FRAC_1_SQRT_2))
            }),
        }
    }
}

impl Activation {
    /// [`apply`](Self::apply) with the common cases (linear, relu, relu6, hard sigmoid, hard silu) inlined into
    /// the caller, so a kernel's epilogue compiled for AVX2 vectorizes them
    /// instead of calling out once per tile row; the rest call `apply`.
    /// Eight floats at a time through [`map_inline`](Self::map_inline) on a
    /// copy (the last few through a padded one): applied in place, relu's
    /// select became `vmaskmovps` stores of zeros (see `map_inline`), which
    /// AMD microcodes, in the epilogue of every conv of several passes.
    #[inline(always)]
    pub(crate) fn apply_inline(self, v: &mut [f32]) {
        if self == Activation::Linear {
            return;
        }
        let mut chunks = v.chunks_exact_mut(8);
        for c in &mut chunks {
            let t: &[f32; 8] = (&*c).try_into().expect("chunks of 8");
            c.copy_from_slice(&self.map_inline(t));
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let mut t = [0.0f32; 8];
            t[..rest.len()].copy_from_slice(rest);
            let n = rest.len();
            rest.copy_from_slice(&self.map_inline(&t)[..n]);
        }
    }
}

impl Activation {
    /// [`apply_inline`](Self::apply_inline) on a whole array, returning a new
    /// one: every lane written unconditionally, so relu compiles to a compare
    /// and blend in registers. Applied in place, LLVM turns relu's
    /// `x = if x < 0 { 0 } else { x }` into a masked store of zeros, and the
    /// full-width load of the array that follows cannot be forwarded from a
    /// masked store: a stall per tile row that cost more than a 1x1 conv's
    /// multiply-adds.
    #[inline(always)]
    pub(crate) fn map_inline<const N: usize>(self, t: &[f32; N]) -> [f32; N] {
        // Each arm builds its own array (no shared mutable one): a shared
        // array that the out-of-line arm passes by reference lives on the
        // stack, and LLVM then merged the arms through it, reloading a
        // 64-byte vector over four 16-byte stores, a store-forwarding
        // stall per tile row (29% of a 16-filter 1x1 conv under `perf`).
        match self {
            Activation::Linear => *t,
            Activation::Relu => {
                let mut r = [0.0f32; N];
                for (r, &x) in r.iter_mut().zip(t) {
                    *r = relu(x);
                }
                r
            }
            Activation::Relu6 => {
                let mut r = [0.0f32; N];
                for (r, &x) in r.iter_mut().zip(t) {
                    *r = relu6(x);
                }
                r
            }
            Activation::HardSigmoid => {
                let mut r = [0.0f32; N];
                for (r, &x) in r.iter_mut().zip(t) {
                    *r = relu6(x + 3.0) / 6.0;
                }
                r
            }
            Activation::HardSilu => {
                let mut r = [0.0f32; N];
                for (r, &x) in r.iter_mut().zip(t) {
                    *r = x * (relu6(x + 3.0) / 6.0);
                }
                r
            }
            other => other.mapped(t),
        }
    }

    /// [`apply`](Self::apply) on a copy of `t`, out of line (the
    /// activations that are not inlined).
    #[inline(never)]
    fn mapped<const N: usize>(self, t: &[f32; N]) -> [f32; N] {
        let mut r = *t;
        self.apply(&mut r);
        r
    }
}

#[inline(always)]
fn relu(x: f32) -> f32 {
    // `max` maps NaN to 0; Keras (TF) propagates NaN, so compare explicitly.
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

#[inline(always)]
fn relu6(x: f32) -> f32 {
    // `clamp` propagates NaN, as TF does.
    x.clamp(0.0, 6.0)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_values() {
        let mut v = [-2.0, -0.0, 0.5, 3.0];
        Activation::Relu.apply(&mut v);
        assert_eq!(v, [0.0, -0.0, 0.5, 3.0]);

        let mut v = [0.0, 2.0, -2.0];
        Activation::Sigmoid.apply(&mut v);
        assert_eq!(v[0], 0.5);
        assert!((v[1] - 0.880_797_1).abs() < 1e-6);
        assert!((v[2] - 0.119_202_92).abs() < 1e-6);

        let mut v = [0.0, 1.0, -20.0];
        Activation::Tanh.apply(&mut v);
        assert_eq!(v[0], 0.0);
        assert!((v[1] - 0.761_594_2).abs() < 1e-6);
        assert_eq!(v[2], -1.0);

        let mut v = [1.5, -1.5];
        Activation::Linear.apply(&mut v);
        assert_eq!(v, [1.5, -1.5]);
    }

    #[test]
    fn keras_3_values() {
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        let mut v = [-1.0, 3.0, 7.0];
        Activation::Relu6.apply(&mut v);
        assert_eq!(v, [0.0, 3.0, 6.0]);
        let mut v = [2.0, -1.0, 0.0];
        Activation::Elu.apply(&mut v);
        assert!(close(&v, &[2.0, -0.632_120_56, 0.0]), "{v:?}");
        let mut v = [-4.0, 0.0, 1.5, 4.0];
        Activation::HardSigmoid.apply(&mut v);
        assert!(close(&v, &[0.0, 0.5, 0.75, 1.0]), "{v:?}");
        let mut v = [1.0, -2.0];
        Activation::Swish.apply(&mut v);
        assert!(close(&v, &[0.731_058_6, -0.238_405_84]), "{v:?}");
        let mut v = [1.0, -0.5, 0.0];
        Activation::Gelu.apply(&mut v);
        assert!(close(&v, &[0.841_344_7, -0.154_268_08, 0.0]), "{v:?}");
        let mut v = [f32::NAN; 5];
        for a in [
            Activation::Relu6,
            Activation::Elu,
            Activation::HardSigmoid,
            Activation::Swish,
            Activation::Gelu,
        ] {
            a.apply(&mut v[..1]);
            assert!(v[0].is_nan(), "{a:?}");
        }
    }

    #[test]
    fn nan_propagates_and_inf_saturates() {
        let mut v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        Activation::Relu.apply(&mut v);
        assert!(v[0].is_nan());
        assert_eq!(v[1], f32::INFINITY);
        assert_eq!(v[2], 0.0);
        let mut v = [f32::INFINITY, f32::NEG_INFINITY];
        Activation::Sigmoid.apply(&mut v);
        assert_eq!(v, [1.0, 0.0]);
    }
}
