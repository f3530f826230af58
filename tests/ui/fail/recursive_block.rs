// A "repeat" written as recursion: blocks are expanded at compile time and may not
// call themselves.
use skipnet::network;

network! {
    block down(x, filters) {
        c = conv2d(x, filters, 3, strides = 2, padding = same, activation = relu);
        return down(c, filters);
    }
    pub Net(x: [32, 32, 3]) -> out {
        d   = down(x, 16);
        out = conv2d(d, 4, 1);
    }
}

fn main() {}
