// A pool size no map can have: rejected at compile time (it would make forward spin).
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out {
        out = max_pool2d(x, 18446744073709551615, strides = 1, padding = same);
    }
}

fn main() {}
