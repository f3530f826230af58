// `add` with only one operand (the second was deleted while editing).
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        a   = conv2d(x, 8, 3, padding = same);
        s   = add(a);
        out = conv2d(s, 4, 1);
    }
}

fn main() {}
