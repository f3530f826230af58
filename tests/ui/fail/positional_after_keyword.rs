// `filters` given by name, then the kernel size by position.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, filters = 16, 3, padding = same);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
