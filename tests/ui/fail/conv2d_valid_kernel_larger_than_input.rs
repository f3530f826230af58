// After three poolings the feature map is 4x4, and a 5x5 `valid` conv does not fit.
use skipnet::network;

network! {
    pub Classifier(x: [32, 32, 3]) -> out {
        c1  = conv2d(x, 16, 3, padding = same, activation = relu);
        p1  = max_pool2d(c1, 2);
        c2  = conv2d(p1, 32, 3, padding = same, activation = relu);
        p2  = max_pool2d(c2, 2);
        c3  = conv2d(p2, 64, 3, padding = same, activation = relu);
        p3  = max_pool2d(c3, 2);
        out = conv2d(p3, 10, 5);
    }
}

fn main() {}
