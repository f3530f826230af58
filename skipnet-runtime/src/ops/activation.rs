//! Standalone activation layers (`relu(x)`, `sigmoid(x)`, ...).

use crate::Activation;

/// `out = activation(x)`.
pub fn activation(act: Activation, x: &[f32], out: &mut [f32]) {
    out.copy_from_slice(x);
    act.apply(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_copy() {
        let mut out = [9.0; 3];
        activation(Activation::Relu, &[-1.0, 0.0, 2.0], &mut out);
        assert_eq!(out, [0.0, 0.0, 2.0]);
    }
}

/// `out = x` where `x >= 0`, else `alpha * x` (Keras `LeakyReLU`).
pub fn leaky_relu(alpha: f32, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len());
    for (o, &v) in out.iter_mut().zip(x) {
        // NaN fails the comparison and propagates through the product.
        *o = if v >= 0.0 { v } else { alpha * v };
    }
}

#[cfg(test)]
mod leaky_tests {
    #[test]
    fn negative_side_is_scaled() {
        let mut out = [0.0; 3];
        super::leaky_relu(0.3, &[-2.0, 0.0, 5.0], &mut out);
        assert_eq!(out, [-0.6, 0.0, 5.0]);
    }
}
