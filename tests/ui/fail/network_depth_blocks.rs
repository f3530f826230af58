use skipnet::network;

network! {
    block b(x) { return b2(x); }
    block b2(x) { return b(x); }
    pub Net(x: [8, 8, 3]) -> out { out = b(x); }
}

fn main() {}
