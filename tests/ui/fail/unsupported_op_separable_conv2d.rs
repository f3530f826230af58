// A MobileNet-style separable conv: in DSL.md §2 but not implemented yet.
use skipnet::network;

network! {
    pub Classifier(x: [28, 28, 1]) -> out {
        c1  = conv2d(x, 8, 3, activation = relu);
        out = separable_conv2d(c1, 16, 3);
    }
}

fn main() {}
