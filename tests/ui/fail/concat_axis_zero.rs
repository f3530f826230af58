// Concatenating along axis 0, which in Keras is the batch axis.
use skipnet::network;

network! {
    pub Merge(x: [16, 16, 8]) -> out {
        a   = conv2d(x, 8, 3, padding = same);
        b   = conv2d(x, 8, 1);
        c   = concat(a, b, axis = 0);
        out = conv2d(c, 4, 1);
    }
}

fn main() {}
