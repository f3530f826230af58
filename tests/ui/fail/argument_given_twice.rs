// `padding` copy-pasted twice into the same call.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, padding = same, activation = relu, padding = same);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
