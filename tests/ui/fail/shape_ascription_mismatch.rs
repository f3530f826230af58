// The ascription forgets that `strides = 2` halves H and W.
use skipnet::network;

network! {
    pub Down(x: [32, 32, 3]) -> out {
        c1: [32, 32, 16] = conv2d(x, 16, 3, strides = 2, padding = same, activation = relu);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
