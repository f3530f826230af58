// `return` belongs to blocks; a network names its outputs in its header.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1 = conv2d(x, 16, 3, padding = same, activation = relu);
        return conv2d(c1, 4, 1);
    }
}

fn main() {}
