// Two blocks calling each other.
use skipnet::network;

network! {
    block ping(x) {
        c = conv2d(x, 8, 3, padding = same);
        return pong(c);
    }
    block pong(x) {
        c = conv2d(x, 8, 3, padding = same);
        return ping(c);
    }
    pub Net(x: [32, 32, 3]) -> out {
        p   = ping(x);
        out = conv2d(p, 4, 1);
    }
}

fn main() {}
