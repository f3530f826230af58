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
}

impl Activation {
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
        }
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
