use skipnet::network;

network! {
    block b(x) { c: [8, 8, 4] = conv2d(x, 4, 3); return relu(c); }
    pub Net(x: [8, 8, 3]) -> out { out = b(x); }
}

fn main() {}
