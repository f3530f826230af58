// A layer with zero filters.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 0, 3, padding = same);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
