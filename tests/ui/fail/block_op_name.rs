use skipnet::network;

network! {
    block relu(x) { c = conv2d(x, 4, 1); return sigmoid(c); }
    pub Net(x: [8, 8, 3]) -> out { out = relu(x); }
}

fn main() {}
