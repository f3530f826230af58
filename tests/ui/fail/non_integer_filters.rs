// The number of filters is a name that is not an integer (there is no constant `n_filters`).
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, n_filters, 3, padding = same);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
