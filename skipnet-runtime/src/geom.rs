//! The geometry types the kernels and the ops share: a feature map's size
//! and a convolution's. A leaf module, so the kernel side (`igemm`,
//! `winograd`) never imports the op files that call it.

use crate::Activation;

/// Height, width and channels of a channels-last feature map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hwc {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl Hwc {
    /// Number of f32 elements.
    pub const fn len(&self) -> usize {
        self.h * self.w * self.c
    }

    /// True when the map has no elements.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Geometry of one `conv2d` layer; padding is already resolved to explicit cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeom {
    /// Input map as stored.
    pub input: Hwc,
    /// Nearest-neighbour upsampling applied to the stored input on the fly
    /// (`(1, 1)`: none). The convolution sees an `input.h * up.0` by
    /// `input.w * up.1` map, which is never materialized.
    pub upsample: (usize, usize),
    /// Output map (`c` = filters).
    pub output: Hwc,
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Strides along H and W.
    pub strides: (usize, usize),
    /// Dilation along H and W.
    pub dilation: (usize, usize),
    /// Padding cells before row 0 and column 0 (TF `same` puts the odd cell after).
    pub pad: (usize, usize),
    /// Channel groups (`in` and `filters` are both divisible by it).
    pub groups: usize,
    /// Activation applied in the epilogue.
    pub activation: Activation,
}

impl Conv2dGeom {
    /// Kernel elements: `kh * kw * (in / groups) * filters` (Keras layout).
    pub const fn kernel_len(&self) -> usize {
        self.kernel.0 * self.kernel.1 * (self.input.c / self.groups) * self.output.c
    }
}
