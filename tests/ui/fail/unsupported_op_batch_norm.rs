// A conv followed by BatchNormalization: in DSL.md §2 but not implemented yet.
use skipnet::network;

network! {
    pub Classifier(x: [28, 28, 1]) -> out {
        c1  = conv2d(x, 8, 3, activation = relu);
        out = batch_norm(c1);
    }
}

fn main() {}
