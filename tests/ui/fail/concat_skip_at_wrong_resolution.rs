// U-Net decoder: the upsampled tensor is concatenated with the skip of the wrong
// encoder level (conv1 is 16x16, the upsampled conv3 is only 8x8).
use skipnet::network;

network! {
    pub UNet(x: [32, 32, 3]) -> out {
        conv1 = conv2d(x, 16, 3, strides = 2, padding = same, activation = relu);
        conv2 = conv2d(conv1, 32, 3, strides = 2, padding = same, activation = relu);
        conv3 = conv2d(conv2, 64, 3, strides = 2, padding = same, activation = relu);
        up1   = upsample2d(conv3, 2);
        merge = concat(conv1, up1);
        out   = conv2d(merge, 1, 1);
    }
}

fn main() {}
