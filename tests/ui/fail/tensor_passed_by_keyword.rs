// Every argument by keyword, including the input tensor.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(inputs = x, filters = 16, kernel_size = 3, padding = same);
        out = conv2d(c1, 4, 1);
    }
}

fn main() {}
