// Keras's Dropout rate is a fraction in [0, 1): 50 (percent?) is rejected.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, padding = same, activation = relu);
        d   = dropout(c1, 50);
        out = conv2d(d, 4, 1);
    }
}

fn main() {}
