use skipnet::network;

network! {
    block b(x) { c = conv2d(x, 4, 1); }
    pub Net(x: [8, 8, 3]) -> out { out = b(x); }
}

fn main() {}
