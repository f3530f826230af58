// Several independent mistakes: all of them are reported by one compile.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, stride = 2, padding = same);
        c2  = conv2d(x, 32, 3, padding = same, activation = rleu);
        c3  = maxpool2d(x, 2);
        a   = conv2d(x, 16, 3, padding = same);
        b   = conv2d(x, 8, 3, padding = same);
        s   = add(a, b);
        c   = conv2d(x, 8, 3, strides = 2, padding = same);
        m   = concat(b, c);
        out = conv2d(concat(s, m, c2, c3, c1), 4, 1);
    }
}

fn main() {}
