// `dilation_rate = 0`.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = conv2d(x, 4, 3, dilation_rate = 0); }
}

fn main() {}
