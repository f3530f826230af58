// `relu()` with its input deleted.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = relu(); }
}

fn main() {}
