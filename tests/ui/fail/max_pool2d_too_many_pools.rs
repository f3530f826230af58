// One pooling too many: 8 -> 4 -> 2 -> 1 -> nothing.
use skipnet::network;

network! {
    pub Tiny(x: [8, 8, 4]) -> out {
        p1  = max_pool2d(x, 2);
        p2  = max_pool2d(p1, 2);
        p3  = max_pool2d(p2, 2);
        p4  = max_pool2d(p3, 2);
        out = conv2d(p4, 2, 1);
    }
}

fn main() {}
