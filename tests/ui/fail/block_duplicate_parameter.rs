// A block with two parameters of the same name.
use skipnet::network;

network! {
    block b(x, x) { c = conv2d(x, 4, 1); return relu(c); }
    pub Net(x: [8, 8, 3]) -> out { out = b(x, x); }
}

fn main() {}
