// `kernel_size` given by position (3) and again by name.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, kernel_size = 5, padding = same);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
