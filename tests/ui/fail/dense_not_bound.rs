// `dense` owns weights, so it must be bound to a name that names them.
use skipnet::network;

network! {
    pub Head(x: [4, 4, 8]) -> out {
        out = relu(dense(global_avg_pool2d(x), 10));
    }
}

fn main() {}
