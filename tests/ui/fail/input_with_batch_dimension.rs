// Keras's `batch_input_shape` habit: a `None` batch dimension.
use skipnet::network;

network! {
    pub Net(x: [None, 32, 32, 3]) -> out {
        out = conv2d(x, 4, 3, padding = same);
    }
}

fn main() {}
