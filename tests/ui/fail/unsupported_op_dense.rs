// A classifier head with `flatten` + `dense`: both are in DSL.md §2 but not implemented yet.
use skipnet::network;

network! {
    pub Classifier(x: [28, 28, 1]) -> out {
        c1  = conv2d(x, 8, 3, activation = relu);
        p1  = max_pool2d(c1, 2);
        f   = flatten(p1);
        out = dense(f, 10);
    }
}

fn main() {}
