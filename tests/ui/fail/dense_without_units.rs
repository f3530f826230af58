// `dense` needs its number of units.
use skipnet::network;

network! {
    pub Head(x: [32]) -> out {
        out = dense(x, activation = relu);
    }
}

fn main() {}
