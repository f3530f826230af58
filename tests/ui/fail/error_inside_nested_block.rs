// An error two blocks deep: a `valid` 3x3 conv inside `stem`, called from `encoder`,
// on a 2x2 map.
use skipnet::network;

network! {
    block stem(x, filters) {
        c = conv2d(x, filters, 3, activation = relu);
        return max_pool2d(c, 2);
    }
    block encoder(x) {
        s1 = stem(x, 8);
        return stem(s1, 16);
    }
    pub Net(x: [8, 8, 3]) -> out {
        e   = encoder(x);
        out = conv2d(e, 4, 1);
    }
}

fn main() {}
