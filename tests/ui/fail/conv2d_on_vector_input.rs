// A conv on a flat `[N]` vector input.
use skipnet::network;

network! {
    pub Net(x: [784]) -> out {
        out = conv2d(x, 4, 3, padding = same);
    }
}

fn main() {}
