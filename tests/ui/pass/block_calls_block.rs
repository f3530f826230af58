// A block built from another block, integer parameters passed through, and
// strides, dilation, groups, use_bias and pairs as Keras takes them.
use skipnet::network;

network! {
    block conv_bn(x, filters, stride) {
        c = conv2d(x, filters, 3, strides = stride, padding = same, activation = relu);
        return conv2d(c, filters, (1, 1), use_bias = false);
    }
    block down(x, filters) {
        first = conv_bn(x, filters, 2);
        wide  = conv2d(first, filters, 3, dilation_rate = 2, padding = same, groups = 2);
        return add(first, wide);
    }
    pub Encoder(x: [32, 32, 4]) -> out {
        d1  = down(x, 16);
        d2  = down(d1, 32);
        out: [8, 8, 8] = conv2d(d2, 8, 1);
    }
}

fn main() {
    assert_eq!(Encoder::OUTPUT_SHAPE, [8, 8, 8]);
    let s = Encoder::summary();
    for layer in ["d1.first.c (conv2d)", "d1.first (conv2d)", "d1.wide (conv2d)", "d2.first.c (conv2d)", "d2 (add)"] {
        assert!(s.contains(layer), "missing {layer} in\n{s}");
    }
}
