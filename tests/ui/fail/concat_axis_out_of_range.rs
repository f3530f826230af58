// Counting axes as if there were a fourth (NCHW habit): there is no axis 4.
use skipnet::network;

network! {
    pub Merge(x: [16, 16, 8]) -> out {
        a   = conv2d(x, 8, 3, padding = same);
        b   = conv2d(x, 8, 1);
        c   = concat(a, b, axis = 4);
        out = conv2d(c, 4, 1);
    }
}

fn main() {}
