// `conv_1` instead of `conv1`.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        conv1 = conv2d(x, 16, 3, padding = same, activation = relu);
        conv2 = conv2d(conv_1, 16, 3, padding = same, activation = relu);
        out   = conv2d(conv2, 4, 1);
    }
}

fn main() {}
