// A conv written inline inside `add`: its weights would have no name.
use skipnet::network;

network! {
    pub Res(x: [16, 16, 8]) -> out {
        a   = conv2d(x, 8, 3, padding = same, activation = relu);
        s   = add(x, conv2d(a, 8, 3, padding = same));
        out = conv2d(s, 4, 1);
    }
}

fn main() {}
