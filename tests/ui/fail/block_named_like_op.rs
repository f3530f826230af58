// A block that shadows an op name.
use skipnet::network;

network! {
    block relu(x) {
        c = conv2d(x, 8, 3, padding = same);
        return sigmoid(c);
    }
    pub Net(x: [32, 32, 3]) -> out {
        r   = relu(x);
        out = conv2d(r, 4, 1);
    }
}

fn main() {}
