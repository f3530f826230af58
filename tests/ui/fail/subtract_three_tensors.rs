// `subtract` is `a - b`: exactly two tensors.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 4]) -> out {
        a   = conv2d(x, 4, 3, padding = same);
        out = subtract(x, a, x);
    }
}

fn main() {}
