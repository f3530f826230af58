// A negative number of filters.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = conv2d(x, -4, 1); }
}

fn main() {}
