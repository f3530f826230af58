// `add()` with its operands deleted.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = add(); }
}

fn main() {}
