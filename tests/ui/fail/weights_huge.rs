use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out { out = conv2d(x, 4096, 4096, padding = same); }
}

fn main() {}
