// Two inputs copy-pasted with the same name.
use skipnet::network;

network! {
    pub Fusion(x: [32, 32, 3], x: [32, 32, 1]) -> out {
        c   = concat(x, x);
        out = conv2d(c, 4, 1);
    }
}

fn main() {}
