use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = batch_norm(conv2d(y, 4, 1)); }
}

fn main() {}
