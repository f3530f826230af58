//! One file per op. Each kernel takes its geometry (computed at compile time by
//! the macro), reads operand slices and writes a disjoint output slice. Tensors
//! are contiguous channels-last (`H*W*C`).
//!
//! Kernels check slice lengths once on entry (`assert_eq!` on lengths the macro
//! proved at compile time) and then run over fixed bounds.

pub mod activation;
pub mod add;
pub mod add_int8;
pub mod avg_pool2d;
pub mod batch_norm;
pub mod concat;
pub mod conv2d;
pub mod conv2d_int8;
pub mod conv2d_transpose;
pub mod dense;
pub mod depthwise_conv2d;
pub mod global_pool2d;
pub mod layer_norm;
pub mod layer_scale;
pub mod max_pool2d;
pub mod merge;
pub mod pad2d;
pub mod rescaling;
pub mod softmax;
pub mod upsample2d;

pub use crate::geom::Hwc;

/// Window reads below which a pooling layer runs on the calling thread alone.
const PARALLEL_MIN_READS: usize = 1 << 18;

/// Runs `rows(pix0, out_chunk)` over chunks of whole output rows of a pooling
/// layer, split across `exec`'s threads when the layer is big enough.
pub(crate) fn by_rows(
    exec: &mut crate::Exec,
    g: &max_pool2d::Pool2dGeom,
    out: &mut [f32],
    rows: &(dyn Fn(usize, &mut [f32]) + Sync),
) {
    let o = g.output;
    let row_len = o.w * o.c;
    let reads = o.len() * g.pool.0 * g.pool.1;
    let threads = exec.threads();
    if threads == 1 || reads < PARALLEL_MIN_READS || row_len == 0 {
        return rows(0, out);
    }
    let rows_per_task = o.h.div_ceil(4 * threads).max(1);
    let chunk = rows_per_task * row_len;
    exec.for_each_chunk(out, chunk, &|i, c| rows(i * rows_per_task * o.w, c));
}

/// Maps output coordinate `o` along one axis to the input coordinate of tap `k`,
/// or `None` when it falls in the padding.
#[inline(always)]
pub(crate) fn tap(
    o: usize,
    stride: usize,
    k: usize,
    dilation: usize,
    pad: usize,
    len: usize,
) -> Option<usize> {
    let i = (o * stride + k * dilation).checked_sub(pad)?;
    if i < len {
        Some(i)
    } else {
        None
    }
}
