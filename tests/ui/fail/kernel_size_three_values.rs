// A 3-D kernel size on a 2-D conv.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = conv2d(x, 4, (3, 3, 3)); }
}

fn main() {}
