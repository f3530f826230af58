// `axis = -4` counts one axis too many (NCHW habit).
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out { a = conv2d(x, 4, 1); out = concat(x, a, axis = -4); }
}

fn main() {}
