//! Concatenation along one axis (Keras `Concatenate`).

/// Concatenates along an axis: the tensors are viewed as `[outer, chunk_i]` where
/// `outer` is the product of the dimensions before the axis and `chunk_i` the
/// product of operand `i`'s dimensions from the axis on. For channels-last maps
/// concatenated on channels, `outer = H * W` and `chunk_i = C_i`.
/// Element-generic: an int8 concat is the same copy (TFLite's int8
/// CONCATENATION gives every operand the output's quantization).
pub fn concat<T: Copy>(outer: usize, operands: &[&[T]], out: &mut [T]) {
    let total: usize = operands.iter().map(|o| o.len()).sum();
    assert_eq!(out.len(), total);
    if outer == 0 {
        return;
    }
    let row = total / outer;
    for (r, orow) in out.chunks_exact_mut(row).enumerate() {
        let mut at = 0;
        for op in operands {
            let chunk = op.len() / outer;
            orow[at..at + chunk].copy_from_slice(&op[r * chunk..][..chunk]);
            at += chunk;
        }
    }
}

/// [`concat`] of some operands only: `out` viewed as `outer` rows; each part
/// `(at, x)` is copied to `[at, at + x.len() / outer)` of every row. The other
/// columns (operands their producers wrote in place) are left as they are.
pub fn concat_parts<T: Copy>(outer: usize, parts: &[(usize, &[T])], out: &mut [T]) {
    if outer == 0 {
        return;
    }
    assert_eq!(out.len() % outer, 0);
    let row = out.len() / outer;
    for &(at, x) in parts {
        assert_eq!(x.len() % outer, 0);
        let chunk = x.len() / outer;
        assert!(at + chunk <= row);
        for (orow, xrow) in out.chunks_exact_mut(row).zip(x.chunks_exact(chunk.max(1))) {
            orow[at..at + chunk].copy_from_slice(&xrow[..chunk]);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parts_fill_only_their_columns() {
        // Two rows of 4: columns 1..3 from `b`, column 0 and 3 untouched.
        let mut out = [9.0; 8];
        super::concat_parts(2, &[(1, &[1.0, 2.0, 3.0, 4.0])], &mut out);
        assert_eq!(out, [9.0, 1.0, 2.0, 9.0, 9.0, 3.0, 4.0, 9.0]);
    }

    #[test]
    fn interleaves_channels_and_repeats_operands() {
        // Two pixels; a has 1 channel, b has 2; concat(a, b, a).
        let a = [1.0, 2.0];
        let b = [10.0, 11.0, 20.0, 21.0];
        let mut out = [0.0; 8];
        super::concat(2, &[&a, &b, &a], &mut out);
        assert_eq!(out, [1.0, 10.0, 11.0, 1.0, 2.0, 20.0, 21.0, 2.0]);
    }

    #[test]
    fn along_the_first_axis_is_appending() {
        let mut out = [0.0; 3];
        super::concat(1, &[&[1.0], &[2.0, 3.0]], &mut out);
        assert_eq!(out, [1.0, 2.0, 3.0]);
    }
}
