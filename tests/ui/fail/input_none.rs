use skipnet::network;

network! {
    pub Net(x: [None, 32, 32, 3]) -> out { out = conv2d(x, 4, 1); }
}

fn main() {}
