// `kernel_size` of 0.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = conv2d(x, 4, 0); }
}

fn main() {}
