// An input declared with an empty shape `[]`.
use skipnet::network;

network! {
    pub Net(x: []) -> out { out = relu(x); }
}

fn main() {}
