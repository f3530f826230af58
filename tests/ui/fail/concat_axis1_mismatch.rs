use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { a = conv2d(x, 4, 1); out = concat(x, a, axis = 1); }
}

fn main() {}
