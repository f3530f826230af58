// Concatenating along H (axis 1) tensors whose channels differ.
use skipnet::network;

network! {
    pub Net(x: [16, 16, 3]) -> out {
        a   = conv2d(x, 8, 3, padding = same);
        c   = concat(x, a, axis = 1);
        out = conv2d(c, 4, 1);
    }
}

fn main() {}
