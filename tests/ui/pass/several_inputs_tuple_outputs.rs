// Two inputs, two outputs (a tuple), with an ascription on an intermediate.
use skipnet::network;

network! {
    /// An image and a guide map fused, with a full-resolution and a coarse head.
    pub Fusion(image: [16, 16, 3], guide: [16, 16, 1]) -> (fine, coarse) {
        fi = conv2d(image, 8, 3, padding = same, activation = relu);
        fg = conv2d(guide, 8, 3, padding = same, activation = relu);
        fused: [16, 16, 16] = concat(fi, fg);
        fine = conv2d(fused, 2, 1, activation = sigmoid);
        pooled = max_pool2d(fused, 2);
        coarse: [8, 8, 1] = conv2d(pooled, 1, 3, padding = same, activation = tanh);
    }
}

fn main() {
    assert_eq!(Fusion::INPUT_SHAPES, [&[16usize, 16, 3][..], &[16, 16, 1][..]]);
    assert_eq!(Fusion::OUTPUT_SHAPES, [&[16usize, 16, 2][..], &[8, 8, 1][..]]);
    assert_eq!(Fusion::INPUT_SHAPE, [16, 16, 3]);
    assert_eq!(Fusion::OUTPUT_SHAPE, [16, 16, 2]);
    let s = Fusion::summary();
    assert!(s.contains("image (input)") && s.contains("guide (input)"), "{s}");
    assert!(s.contains("Outputs: fine, coarse"), "{s}");
    // `forward` takes one argument per input and returns a tuple of outputs.
    let _f: for<'w> fn(
        &Fusion,
        &'w mut FusionWorkspace,
        &[f32; 16 * 16 * 3],
        &[f32; 16 * 16],
    ) -> (&'w [f32; 16 * 16 * 2], &'w [f32; 8 * 8]) = Fusion::forward;
}
