// Merges need shapes that broadcast: a stride-2 branch multiplied with the input.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 4]) -> out {
        gate = conv2d(x, 4, 3, strides = 2, padding = same, activation = sigmoid);
        out  = multiply(x, gate);
    }
}

fn main() {}
