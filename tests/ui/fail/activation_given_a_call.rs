// `activation = relu(x)` instead of the activation name.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = conv2d(x, 4, 1, activation = relu(x)); }
}

fn main() {}
