// Conv2D needs a kernel size; it was forgotten.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, padding = same, activation = relu);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
