//! The anchor networks (`shared/anchors/models.py`) that tests and benches
//! both declare, as macros taking the declaration's attributes, name and
//! sizes, so each topology is written once. Used by `tests/common/mod.rs`,
//! `tests/baked.rs`, `tests/keras_parity.rs`, `tests/zero_alloc.rs`,
//! `tests/profile.rs` and `benches/anchors.rs` (not every user takes both).
#![allow(unused_macros)]

/// The seed U-Net: an encoder-decoder with concatenate skips on an
/// `[$h, $w, 3]` image; its last conv is bound to `$out`.
macro_rules! seed_unet {
    ($(#[$($attr:tt)*])* $name:ident([$h:literal, $w:literal, 3]) -> $out:ident) => {
        ::skipnet::network! {
            $(#[$($attr)*])*
            pub $name(x: [$h, $w, 3]) -> $out {
                conv1  = conv2d(x, 32, 3, strides = 2, padding = same, activation = relu);
                conv2  = conv2d(conv1, 64, 3, strides = 2, padding = same, activation = relu);
                conv3  = conv2d(conv2, 128, 3, strides = 2, padding = same, activation = relu);
                conv4  = conv2d(conv3, 128, 3, strides = 2, padding = same, activation = relu);
                up1    = conv2d(upsample2d(conv4, 2), 128, 3, padding = same, activation = relu);
                merge1 = concat(conv3, up1);
                up2    = conv2d(upsample2d(merge1, 2), 64, 3, padding = same, activation = relu);
                merge2 = concat(conv2, up2);
                up3    = conv2d(upsample2d(merge2, 2), 32, 3, padding = same, activation = relu);
                merge3 = concat(conv1, up3);
                up4    = conv2d(upsample2d(merge3, 2), 32, 3, padding = same);
                $out   = conv2d(up4, 3, 3, padding = same);
            }
        }
    };
}

/// The anchor `apes_block_net`: parallel 3x3 and 1x1 paths merged by `add`,
/// on a `[64, 64, 16]` map, layer names as in models.py.
macro_rules! apes_block_net {
    ($(#[$($attr:tt)*])* $name:ident) => {
        ::skipnet::network! {
            $(#[$($attr)*])*
            pub $name(x: [64, 64, 16]) -> gap {
                stem      = conv2d(x, 32, 3, padding = same, activation = relu);
                b1_conv3  = conv2d(stem, 32, 3, padding = same, activation = relu);
                b1_conv1  = conv2d(stem, 32, 1, padding = same);
                pool1     = max_pool2d(relu(add(b1_conv3, b1_conv1)), 2);
                b2_conv3  = conv2d(pool1, 64, 3, padding = same, activation = relu);
                b2_conv1  = conv2d(pool1, 64, 1, padding = same);
                pool2     = max_pool2d(relu(add(b2_conv3, b2_conv1)), 2);
                b3_conv3a = conv2d(pool2, 64, 3, padding = same, activation = relu);
                b3_conv3b = conv2d(b3_conv3a, 64, 3, padding = same);
                pool3     = max_pool2d(relu(add(b3_conv3b, pool2)), 2);
                head      = conv2d(pool3, 10, 1, padding = same);
                gap       = global_avg_pool2d(head);
            }
        }
    };
}

#[allow(unused_imports)]
pub(crate) use {apes_block_net, seed_unet};
