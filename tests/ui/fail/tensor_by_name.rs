use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = conv2d(x = x, filters = 4, kernel_size = 1); }
}

fn main() {}
