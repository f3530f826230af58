//! Keras's `LayerScale` (ConvNeXt's, `keras.applications.convnext`):
//! `x * gamma`, one learned factor per channel, the same float32 product as
//! Keras's.

/// `out = x * gamma[k]` on every row of `gamma.len()` channels.
///
/// # Panics
/// If `x` and `out` differ in length or are not whole rows.
pub fn layer_scale(gamma: &[f32], x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "layer_scale: lengths");
    let c = gamma.len();
    if c == 0 {
        assert!(x.is_empty(), "layer_scale: no channels");
        return;
    }
    assert!(
        x.len().is_multiple_of(c),
        "layer_scale: {} floats are not rows of {c} channels",
        x.len()
    );
    for (orow, xrow) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        for ((o, &v), &g) in orow.iter_mut().zip(xrow).zip(gamma) {
            *o = v * g;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scales_each_channel() {
        let mut out = [0.0; 6];
        super::layer_scale(&[2.0, -0.5], &[1.0, 2.0, 3.0, 4.0, f32::NAN, 0.0], &mut out);
        assert_eq!(out[..4], [2.0, -1.0, 6.0, -2.0]);
        assert!(out[4].is_nan());
        assert_eq!(out[5].to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    #[should_panic(expected = "not rows")]
    fn refuses_partial_rows() {
        let mut out = [0.0; 3];
        super::layer_scale(&[1.0, 1.0], &[1.0, 2.0, 3.0], &mut out);
    }
}
