// Python-style `False` instead of Rust's `false`.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, padding = same, use_bias = False);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
