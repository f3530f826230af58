use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = conv2d(x, filters = 4, 3); }
}

fn main() {}
