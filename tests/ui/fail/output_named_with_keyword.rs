// A Rust keyword (`final`) as the output name.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> final {
        final = conv2d(x, 4, 1);
    }
}

fn main() {}
