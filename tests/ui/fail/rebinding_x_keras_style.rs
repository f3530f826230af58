// The Keras functional idiom `x = Conv2D(...)(x)` rebinds `x`; here every
// binding needs its own name.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        x   = conv2d(x, 16, 3, padding = same, activation = relu);
        out = conv2d(x, 4, 1);
    }
}

fn main() {}
