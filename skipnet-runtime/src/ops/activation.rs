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
