// `concat` of a single tensor.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { a = relu(x); out = concat(a); }
}

fn main() {}
