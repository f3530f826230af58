//! Comparing outputs: the one helper every test, example and benchmark check
//! uses, so that a NaN or an infinity can never pass for "close".
//!
//! `f32::max` drops NaN (`0.0f32.max(NAN) == 0.0`), so the usual fold of the
//! absolute differences with `f32::max`, starting from zero, reports 0 for an
//! output that is all NaN. [`max_abs_diff`] instead returns infinity for any
//! non-finite difference and for slices of different lengths.

/// The largest `|a[i] - b[i]|`, or `f32::INFINITY` when any difference is not
/// finite (a NaN or an infinity on either side) or the lengths differ. Empty
/// slices of equal length give 0.
///
/// ```
/// use skipnet_runtime::compare::max_abs_diff;
/// assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.0, 2.5]), 0.5);
/// assert_eq!(max_abs_diff(&[1.0, f32::NAN], &[1.0, 2.0]), f32::INFINITY);
/// assert_eq!(max_abs_diff(&[f32::NAN], &[f32::NAN]), f32::INFINITY);
/// assert_eq!(max_abs_diff(&[1.0], &[1.0, 2.0]), f32::INFINITY);
/// ```
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    let mut worst = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        let d = (x - y).abs();
        if !d.is_finite() {
            return f32::INFINITY;
        }
        if d > worst {
            worst = d;
        }
    }
    worst
}

/// [`max_abs_diff`] against a float64 reference: the difference is taken in
/// f64 (so the reference's extra precision is kept), infinite when any value
/// on either side is not finite or the lengths differ.
pub fn max_abs_diff_f64(got: &[f32], want: &[f64]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    let mut worst = 0.0f64;
    for (&x, &y) in got.iter().zip(want) {
        let d = (f64::from(x) - y).abs();
        if !d.is_finite() {
            return f64::INFINITY;
        }
        if d > worst {
            worst = d;
        }
    }
    worst
}

/// Whether `got` is within `tol` of `want` everywhere: `max_abs_diff <= tol`,
/// so false whenever a NaN or infinity is involved.
pub fn all_close(got: &[f32], want: &[f32], tol: f32) -> bool {
    max_abs_diff(got, want) <= tol
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_infinity_never_pass() {
        let nan = [f32::NAN; 4];
        let ok = [0.0f32; 4];
        assert_eq!(max_abs_diff(&nan, &ok), f32::INFINITY);
        assert_eq!(max_abs_diff(&ok, &nan), f32::INFINITY);
        assert_eq!(
            max_abs_diff(&[f32::INFINITY], &[f32::INFINITY]),
            f32::INFINITY
        );
        assert!(!all_close(&nan, &ok, f32::MAX));
        assert_eq!(max_abs_diff_f64(&[f32::NAN], &[0.0]), f64::INFINITY);
        assert_eq!(max_abs_diff_f64(&[0.0], &[f64::NAN]), f64::INFINITY);
    }

    #[test]
    fn finite_differences_are_measured() {
        assert_eq!(max_abs_diff(&[], &[]), 0.0);
        assert_eq!(max_abs_diff(&[1.0, -3.0, 2.0], &[1.5, -1.0, 2.0]), 2.0);
        assert_eq!(max_abs_diff_f64(&[1.0, 2.0], &[1.25, 2.0]), 0.25);
        assert!(all_close(&[1.0], &[1.0 + 1e-6], 1e-5));
    }
}
