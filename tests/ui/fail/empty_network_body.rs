// A network declared with an empty body.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { }
}

fn main() {}
