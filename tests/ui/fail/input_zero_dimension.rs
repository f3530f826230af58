// An input with zero channels.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 0]) -> out {
        out = conv2d(x, 4, 1);
    }
}

fn main() {}
