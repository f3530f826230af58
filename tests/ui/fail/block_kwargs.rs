use skipnet::network;

network! {
    block b(x, filters) { c = conv2d(x, filters, 1); return relu(c); }
    pub Net(x: [8, 8, 3]) -> out { out = b(x, filters = 4); }
}

fn main() {}
