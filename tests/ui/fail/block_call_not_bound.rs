// A block call nested inside an op: its layers would have no name.
use skipnet::network;

network! {
    block apes(x, filters) {
        a = conv2d(x, filters, 3, padding = same, activation = relu);
        b = conv2d(x, filters, 1, padding = same);
        return add(a, b);
    }
    pub Net(x: [16, 16, 8]) -> out {
        p   = max_pool2d(apes(x, 8), 2);
        out = conv2d(p, 4, 1);
    }
}

fn main() {}
