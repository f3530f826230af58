// A Rust keyword (`type`) as a binding name.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out {
        type = conv2d(x, 4, 1);
        out = relu(type);
    }
}

fn main() {}
