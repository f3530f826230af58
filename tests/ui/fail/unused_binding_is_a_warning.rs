// An unused binding (`dead`) is reported as a warning at the binding; the network
// still compiles. The type error in `main` is only there to make this case fail
// so the warning is recorded.
use skipnet::network;

network! {
    pub Net(x: [8, 8, 3]) -> out {
        dead = relu(x);
        out  = conv2d(x, 4, 1);
    }
}

fn main() {
    let _: u8 = Net::OUTPUT_SHAPE;
}
