// DSL.md §1's ApesNet: a block used twice with different integer parameters.
use skipnet::network;

network! {
    /// Two parallel paths merged by element-wise addition.
    block apes(x, filters) {
        a = conv2d(x, filters, 3, padding = same, activation = relu);
        b = conv2d(x, filters, 1, padding = same);
        return add(a, b);
    }
    pub ApesNet(x: [64, 64, 16]) -> out {
        b1  = apes(x, 16);
        p1  = max_pool2d(b1, 2);
        b2  = apes(p1, 32);
        out = conv2d(b2, 4, 1);
    }
}

fn main() {
    assert_eq!(ApesNet::INPUT_SHAPE, [64, 64, 16]);
    assert_eq!(ApesNet::OUTPUT_SHAPE, [32, 32, 4]);
    let s = ApesNet::summary();
    // Layers inside blocks are named by path.
    for layer in ["b1.a (conv2d)", "b1.b (conv2d)", "b2.a (conv2d)", "b2.b (conv2d)", "b1 (add)", "b2 (add)"] {
        assert!(s.contains(layer), "missing {layer} in\n{s}");
    }
    // b1.a: 3*3*16*16 + 16, b1.b: 16*16 + 16, b2.a: 3*3*16*32 + 32, b2.b: 16*32 + 32, out: 32*4 + 4
    let params = (3 * 3 * 16 * 16 + 16) + (16 * 16 + 16) + (3 * 3 * 16 * 32 + 32) + (16 * 32 + 32) + (32 * 4 + 4);
    assert_eq!(ApesNet::PARAMS, params);
}
