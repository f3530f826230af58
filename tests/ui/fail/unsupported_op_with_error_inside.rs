// `batch_norm` is not supported yet, and the conv inside it reads an unknown name:
// both are reported.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c   = conv2d(x, 16, 3, padding = same);
        bn  = batch_norm(conv2d(inp, 16, 3));
        out = conv2d(bn, 4, 1);
    }
}

fn main() {}
