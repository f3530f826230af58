// A `network!` holding only a block (the network was meant to come later).
use skipnet::network;

network! {
    block stage(x, filters) {
        c = conv2d(x, filters, 3, padding = same, activation = relu);
        return max_pool2d(c, 2);
    }
}

fn main() {}
