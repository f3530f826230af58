// The output is the input itself: nothing computes it.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> x {
        c1 = conv2d(x, 16, 3, padding = same);
    }
}

fn main() {}
