// Keras writes `Input(shape=(32, 32, 3))`; the DSL takes `[32, 32, 3]`.
use skipnet::network;

network! {
    pub Net(x: (32, 32, 3)) -> out {
        out = conv2d(x, 4, 3, padding = same);
    }
}

fn main() {}
