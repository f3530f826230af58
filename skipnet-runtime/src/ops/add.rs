//! Element-wise sum of any number of same-shaped tensors (Keras `Add`).

/// `out = operands[0] + operands[1] + ...` (left to right, as Keras sums).
pub fn add(operands: &[&[f32]], out: &mut [f32]) {
    let Some((first, rest)) = operands.split_first() else {
        out.fill(0.0);
        return;
    };
    out.copy_from_slice(first);
    for op in rest {
        assert_eq!(op.len(), out.len());
        for (o, v) in out.iter_mut().zip(op.iter()) {
            *o += v;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_three() {
        let mut out = [0.0; 2];
        super::add(&[&[1.0, 2.0], &[10.0, 20.0], &[100.0, 200.0]], &mut out);
        assert_eq!(out, [111.0, 222.0]);
    }
}
