// A `valid` pool larger than the map leaves an empty output.
use skipnet::network;

network! {
    pub Net(x: [4, 4, 2]) -> out {
        out = avg_pool2d(x, 5);
    }
}

fn main() {}
