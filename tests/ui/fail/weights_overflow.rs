use skipnet::network;

network! {
    pub Net(x: [1, 1, 65536]) -> out { out = conv2d(x, 65536, 65536, padding = same); }
}

fn main() {}
