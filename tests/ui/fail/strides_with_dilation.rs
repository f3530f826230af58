// Strided and dilated at the same time: Keras rejects it too.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, strides = 2, dilation_rate = 2, padding = same);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
