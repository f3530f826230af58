// `filters` and `kernel_size` swapped with a large value: a 4096x4096 kernel.
use skipnet::network;

network! {
    pub Net(x: [32, 32, 3]) -> out {
        out = conv2d(x, 4096, 4096, padding = same);
    }
}

fn main() {}
