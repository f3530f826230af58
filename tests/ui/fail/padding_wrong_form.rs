// Padding is an integer, `(h, w)` or `((top, bottom), (left, right))`.
use skipnet::network;

network! {
    pub Net(x: [6, 8, 4]) -> out {
        out = zero_padding2d(x, (1, 2, 3));
    }
}

fn main() {}
