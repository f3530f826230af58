// `relu(x, alpha = ...)`: the slope belongs to `leaky_relu`.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { out = relu(x, alpha = 0); }
}

fn main() {}
