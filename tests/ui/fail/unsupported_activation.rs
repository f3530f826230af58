// `leaky_relu` is a Keras activation the DSL plans but does not support yet.
use skipnet::network;

network! {
    pub Seg(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, padding = same, activation = relu);
        out = conv2d(c1, 4, 1, activation = leaky_relu);
    }
}

fn main() {}
