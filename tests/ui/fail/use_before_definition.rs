// Statements reordered: `merge` reads `up` before it is computed.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        down  = conv2d(x, 16, 3, strides = 2, padding = same, activation = relu);
        merge = concat(down, up);
        up    = conv2d(down, 16, 3, padding = same);
        out   = conv2d(merge, 4, 1);
    }
}

fn main() {}
