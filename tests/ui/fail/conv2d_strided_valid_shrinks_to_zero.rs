// Strided `valid` convolutions shrink 16 -> 7 -> 3 -> 1; the last one has nothing left.
use skipnet::network;

network! {
    pub Encoder(x: [16, 16, 1]) -> out {
        d1  = conv2d(x, 8, 3, strides = 2, activation = relu);
        d2  = conv2d(d1, 16, 3, strides = 2, activation = relu);
        d3  = conv2d(d2, 32, 3, strides = 2, activation = relu);
        out = conv2d(d3, 64, 3, strides = 2);
    }
}

fn main() {}
