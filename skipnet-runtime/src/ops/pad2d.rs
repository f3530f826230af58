//! `zero_padding2d` and `cropping2d` (Keras `ZeroPadding2D`, `Cropping2D`): a
//! copy that moves the map by whole rows and columns.

use super::Hwc;

/// `out[y, x] = x[y - top, x - left]` where that lies inside the input, else 0.
/// Positive `top`/`left` pad, negative ones crop.
pub fn shift2d(input: Hwc, output: Hwc, top: isize, left: isize, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), input.len());
    assert_eq!(out.len(), output.len());
    assert_eq!(input.c, output.c);
    let c = output.c;
    if c == 0 || output.w == 0 {
        return;
    }
    for (oy, orow) in out.chunks_exact_mut(output.w * c).enumerate() {
        let iy = oy as isize - top;
        if iy < 0 || iy >= input.h as isize {
            orow.fill(0.0);
            continue;
        }
        for (ox, opix) in orow.chunks_exact_mut(c).enumerate() {
            let ix = ox as isize - left;
            if ix < 0 || ix >= input.w as isize {
                opix.fill(0.0);
            } else {
                let at = (iy as usize * input.w + ix as usize) * c;
                opix.copy_from_slice(&x[at..at + c]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_then_crop_round_trips() {
        let i = Hwc { h: 2, w: 2, c: 1 };
        let p = Hwc { h: 3, w: 4, c: 1 };
        let mut padded = [9.0; 12];
        shift2d(i, p, 1, 2, &[1.0, 2.0, 3.0, 4.0], &mut padded);
        assert_eq!(
            padded,
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0]
        );
        let mut back = [0.0; 4];
        shift2d(p, i, -1, -2, &padded, &mut back);
        assert_eq!(back, [1.0, 2.0, 3.0, 4.0]);
    }
}
