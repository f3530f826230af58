use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = upsample2d(x, 2, 2); }
}

fn main() {}
