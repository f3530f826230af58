// Two layers named `conv2` (a copy-paste forgot to rename the second).
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        conv1 = conv2d(x, 16, 3, padding = same, activation = relu);
        conv2 = conv2d(conv1, 16, 3, padding = same, activation = relu);
        conv2 = conv2d(conv2, 16, 3, padding = same, activation = relu);
        out   = conv2d(conv2, 4, 1);
    }
}

fn main() {}
