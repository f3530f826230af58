// DSL.md §1's SkipUNet compiles, and its generated constants are consistent.
use skipnet::network;

network! {
    /// Encoder-decoder with concatenate skips (the classic Keras example).
    pub SkipUNet(x: [32, 32, 3]) -> out {
        conv1  = conv2d(x, 32, 3, strides = 2, padding = same, activation = relu);
        conv2  = conv2d(conv1, 64, 3, strides = 2, padding = same, activation = relu);
        conv3  = conv2d(conv2, 128, 3, strides = 2, padding = same, activation = relu);
        conv4  = conv2d(conv3, 128, 3, strides = 2, padding = same, activation = relu);
        up1    = conv2d(upsample2d(conv4, 2), 128, 3, padding = same, activation = relu);
        merge1 = concat(conv3, up1);
        up2    = conv2d(upsample2d(merge1, 2), 64, 3, padding = same, activation = relu);
        merge2 = concat(conv2, up2);
        up3    = conv2d(upsample2d(merge2, 2), 32, 3, padding = same, activation = relu);
        merge3 = concat(conv1, up3);
        up4    = conv2d(upsample2d(merge3, 2), 32, 3, padding = same);
        out    = conv2d(up4, 3, 3, padding = same);
    }
}

fn main() {
    assert_eq!(SkipUNet::INPUT_SHAPE, [32, 32, 3]);
    assert_eq!(SkipUNet::OUTPUT_SHAPE, [32, 32, 3]);
    // The arena holds at least the largest intermediate tensor (up4: 32*32*32)
    // and never more than all intermediate tensors side by side.
    assert!(SkipUNet::ARENA_LEN >= 32 * 32 * 32);
    assert!(SkipUNet::ARENA_LEN <= SkipUNet::NAIVE_ARENA_LEN);
    assert!(SkipUNet::LIVE_SET_BOUND <= SkipUNet::ARENA_LEN);
    let s = SkipUNet::summary();
    assert!(s.contains("SkipUNet"), "{s}");
    assert!(s.contains("merge3 (concat)"), "{s}");
    assert!(s.contains("[16, 16, 64]"), "{s}");
    // Nothing else declared: the workspace type exists under the documented name.
    let _ws: Box<SkipUNetWorkspace> = SkipUNet::workspace();
}
