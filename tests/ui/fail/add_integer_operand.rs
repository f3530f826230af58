// `add(x, 1)`: adding a constant is not a merge layer.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        a   = conv2d(x, 8, 3, padding = same);
        s   = add(a, 1);
        out = conv2d(s, 4, 1);
    }
}

fn main() {}
