// The block takes `(x, filters)`; the call forgets the filters.
use skipnet::network;

network! {
    block apes(x, filters) {
        a = conv2d(x, filters, 3, padding = same, activation = relu);
        b = conv2d(x, filters, 1, padding = same);
        return add(a, b);
    }
    pub ApesNet(x: [64, 64, 16]) -> out {
        b1  = apes(x);
        out = conv2d(b1, 4, 1);
    }
}

fn main() {}
