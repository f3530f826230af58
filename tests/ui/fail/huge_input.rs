use skipnet::network;

network! {
    pub Net(x: [65536, 65536, 3]) -> out { out = relu(x); }
}

fn main() {}
