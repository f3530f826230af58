// A misspelled op whose argument reads an unknown name: both are reported.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c   = conv2d(x, 16, 3, padding = same);
        sc  = seperable_conv2d(relu(inp), 16, 3);
        out = conv2d(sc, 4, 1);
    }
}

fn main() {}
