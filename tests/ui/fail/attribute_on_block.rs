// An attribute on a block: only doc comments are accepted.
use skipnet::network;

network! {
    #[inline] block b(x) { c = conv2d(x, 4, 1); return relu(c); }
    pub Net(x: [8, 8, 3]) -> out { out = b(x); }
}

fn main() {}
