// `stride = 2` instead of Keras's `strides = 2`.
use skipnet::network;

network! {
    pub Down(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, stride = 2, padding = same, activation = relu);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
