// An atrous (dilated) 3x3 conv with rate 6 spans 13 pixels; the map is only 8 wide.
use skipnet::network;

network! {
    pub Aspp(x: [8, 8, 32]) -> out {
        a   = conv2d(x, 32, 3, dilation_rate = 6, activation = relu);
        out = conv2d(a, 8, 1);
    }
}

fn main() {}
