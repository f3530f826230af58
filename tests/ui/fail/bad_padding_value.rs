// `causal` padding exists for Keras Conv1D, not for Conv2D.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, padding = causal, activation = relu);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
