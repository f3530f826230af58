// `dropout(x, 0.5)` (DSL.md §2, not implemented yet) with its float rate.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, padding = same, activation = relu);
        d   = dropout(c1, 0.5);
        out = conv2d(d, 4, 1);
    }
}

fn main() {}
