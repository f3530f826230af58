// A 64k x 64k RGB image is larger than any tensor skipnet plans for.
use skipnet::network;

network! {
    pub Net(x: [65536, 65536, 3]) -> out {
        out = conv2d(x, 4, 1);
    }
}

fn main() {}
