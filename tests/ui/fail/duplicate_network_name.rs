// Two variants of a network pasted into one `network!` under the same name.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        out = conv2d(x, 4, 1);
    }
    pub Net(x: [32, 32, 3]) -> out {
        c   = conv2d(x, 8, 3, padding = same, activation = relu);
        out = conv2d(c, 4, 1);
    }
}

fn main() {}
