use skipnet::network;

network! {
    block b(x) { c = conv2d(x, 4, 1); return relu(c); }
    block b(x) { c = conv2d(x, 8, 1); return relu(c); }
    pub Net(x: [8, 8, 3]) -> out { out = b(x); }
}

fn main() {}
