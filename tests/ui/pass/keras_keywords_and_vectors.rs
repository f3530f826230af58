// Keyword-only arguments as Keras writes them, `(h, w)` pairs, every supported
// activation, a positional `concat` axis, and a vector network.
use skipnet::network;

network! {
    pub Keywords(x: [13, 12, 5]) -> out {
        a = conv2d(x, filters = 8, kernel_size = (3, 1), strides = (2, 1), padding = same, activation = tanh);
        b = conv2d(x, filters = 4, kernel_size = 3, strides = (2, 1), padding = same, use_bias = false, activation = sigmoid);
        c = concat(a, b, -1);
        p = max_pool2d(c, pool_size = (2, 3), strides = 1, padding = valid);
        u = upsample2d(p, size = (1, 2), interpolation = nearest);
        out = conv2d(u, 2, 1, activation = linear);
    }
    pub Vectors(a: [8], b: [4]) -> out {
        c   = concat(a, b);
        d   = relu(c);
        out = add(d, c, sigmoid(c));
    }
}

fn main() {
    assert_eq!(Keywords::OUTPUT_SHAPE, [6, 20, 2]);
    assert_eq!(Vectors::INPUT_SHAPES, [&[8usize][..], &[4][..]]);
    assert_eq!(Vectors::OUTPUT_SHAPE, [12]);
    assert_eq!(Vectors::PARAMS, 0);
    assert!(Keywords::summary().contains("b (conv2d)"));
}
