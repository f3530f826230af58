//! The anchor networks (`shared/anchors/models.py`) that tests and benches
//! both declare, as macros taking the declaration's attributes, name and
//! sizes, so each topology is written once. Used by `tests/common/mod.rs`,
//! `tests/baked.rs`, `tests/keras_parity.rs`, `tests/zero_alloc.rs`,
//! `tests/profile.rs`, `tests/pictures.rs`, `examples/plot` and `benches/anchors.rs`
//! (not every user takes every one).
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

/// `keras.applications.MobileNetV2` (tools/extra_anchors.py `mobilenet_v2`: 224x224x3,
/// alpha 1.0, include_top, softmax) as `tools/keras_to_skipnet.py` prints it.
macro_rules! mobilenet_v2 {
    ($(#[$($attr:tt)*])* $name:ident) => {
        ::skipnet::network! {
            $(#[$($attr)*])*
            pub $name(input_layer: [224, 224, 3]) -> predictions {
                Conv1                    = conv2d(input_layer, 32, 3, strides = 2, padding = same, use_bias = false);
                bn_Conv1                 = batch_norm(Conv1);
                Conv1_relu               = relu6(bn_Conv1);
                expanded_conv_depthwise  = depthwise_conv2d(Conv1_relu, 3, padding = same, use_bias = false);
                expanded_conv_depthwise_BN = batch_norm(expanded_conv_depthwise);
                expanded_conv_depthwise_relu = relu6(expanded_conv_depthwise_BN);
                expanded_conv_project    = conv2d(expanded_conv_depthwise_relu, 16, 1, padding = same, use_bias = false);
                expanded_conv_project_BN = batch_norm(expanded_conv_project);
                block_1_expand           = conv2d(expanded_conv_project_BN, 96, 1, padding = same, use_bias = false);
                block_1_expand_BN        = batch_norm(block_1_expand);
                block_1_expand_relu      = relu6(block_1_expand_BN);
                block_1_pad              = zero_padding2d(block_1_expand_relu, ((0, 1), (0, 1)));
                block_1_depthwise        = depthwise_conv2d(block_1_pad, 3, strides = 2, use_bias = false);
                block_1_depthwise_BN     = batch_norm(block_1_depthwise);
                block_1_depthwise_relu   = relu6(block_1_depthwise_BN);
                block_1_project          = conv2d(block_1_depthwise_relu, 24, 1, padding = same, use_bias = false);
                block_1_project_BN       = batch_norm(block_1_project);
                block_2_expand           = conv2d(block_1_project_BN, 144, 1, padding = same, use_bias = false);
                block_2_expand_BN        = batch_norm(block_2_expand);
                block_2_expand_relu      = relu6(block_2_expand_BN);
                block_2_depthwise        = depthwise_conv2d(block_2_expand_relu, 3, padding = same, use_bias = false);
                block_2_depthwise_BN     = batch_norm(block_2_depthwise);
                block_2_depthwise_relu   = relu6(block_2_depthwise_BN);
                block_2_project          = conv2d(block_2_depthwise_relu, 24, 1, padding = same, use_bias = false);
                block_2_project_BN       = batch_norm(block_2_project);
                block_2_add              = add(block_1_project_BN, block_2_project_BN);
                block_3_expand           = conv2d(block_2_add, 144, 1, padding = same, use_bias = false);
                block_3_expand_BN        = batch_norm(block_3_expand);
                block_3_expand_relu      = relu6(block_3_expand_BN);
                block_3_pad              = zero_padding2d(block_3_expand_relu, ((0, 1), (0, 1)));
                block_3_depthwise        = depthwise_conv2d(block_3_pad, 3, strides = 2, use_bias = false);
                block_3_depthwise_BN     = batch_norm(block_3_depthwise);
                block_3_depthwise_relu   = relu6(block_3_depthwise_BN);
                block_3_project          = conv2d(block_3_depthwise_relu, 32, 1, padding = same, use_bias = false);
                block_3_project_BN       = batch_norm(block_3_project);
                block_4_expand           = conv2d(block_3_project_BN, 192, 1, padding = same, use_bias = false);
                block_4_expand_BN        = batch_norm(block_4_expand);
                block_4_expand_relu      = relu6(block_4_expand_BN);
                block_4_depthwise        = depthwise_conv2d(block_4_expand_relu, 3, padding = same, use_bias = false);
                block_4_depthwise_BN     = batch_norm(block_4_depthwise);
                block_4_depthwise_relu   = relu6(block_4_depthwise_BN);
                block_4_project          = conv2d(block_4_depthwise_relu, 32, 1, padding = same, use_bias = false);
                block_4_project_BN       = batch_norm(block_4_project);
                block_4_add              = add(block_3_project_BN, block_4_project_BN);
                block_5_expand           = conv2d(block_4_add, 192, 1, padding = same, use_bias = false);
                block_5_expand_BN        = batch_norm(block_5_expand);
                block_5_expand_relu      = relu6(block_5_expand_BN);
                block_5_depthwise        = depthwise_conv2d(block_5_expand_relu, 3, padding = same, use_bias = false);
                block_5_depthwise_BN     = batch_norm(block_5_depthwise);
                block_5_depthwise_relu   = relu6(block_5_depthwise_BN);
                block_5_project          = conv2d(block_5_depthwise_relu, 32, 1, padding = same, use_bias = false);
                block_5_project_BN       = batch_norm(block_5_project);
                block_5_add              = add(block_4_add, block_5_project_BN);
                block_6_expand           = conv2d(block_5_add, 192, 1, padding = same, use_bias = false);
                block_6_expand_BN        = batch_norm(block_6_expand);
                block_6_expand_relu      = relu6(block_6_expand_BN);
                block_6_pad              = zero_padding2d(block_6_expand_relu, ((0, 1), (0, 1)));
                block_6_depthwise        = depthwise_conv2d(block_6_pad, 3, strides = 2, use_bias = false);
                block_6_depthwise_BN     = batch_norm(block_6_depthwise);
                block_6_depthwise_relu   = relu6(block_6_depthwise_BN);
                block_6_project          = conv2d(block_6_depthwise_relu, 64, 1, padding = same, use_bias = false);
                block_6_project_BN       = batch_norm(block_6_project);
                block_7_expand           = conv2d(block_6_project_BN, 384, 1, padding = same, use_bias = false);
                block_7_expand_BN        = batch_norm(block_7_expand);
                block_7_expand_relu      = relu6(block_7_expand_BN);
                block_7_depthwise        = depthwise_conv2d(block_7_expand_relu, 3, padding = same, use_bias = false);
                block_7_depthwise_BN     = batch_norm(block_7_depthwise);
                block_7_depthwise_relu   = relu6(block_7_depthwise_BN);
                block_7_project          = conv2d(block_7_depthwise_relu, 64, 1, padding = same, use_bias = false);
                block_7_project_BN       = batch_norm(block_7_project);
                block_7_add              = add(block_6_project_BN, block_7_project_BN);
                block_8_expand           = conv2d(block_7_add, 384, 1, padding = same, use_bias = false);
                block_8_expand_BN        = batch_norm(block_8_expand);
                block_8_expand_relu      = relu6(block_8_expand_BN);
                block_8_depthwise        = depthwise_conv2d(block_8_expand_relu, 3, padding = same, use_bias = false);
                block_8_depthwise_BN     = batch_norm(block_8_depthwise);
                block_8_depthwise_relu   = relu6(block_8_depthwise_BN);
                block_8_project          = conv2d(block_8_depthwise_relu, 64, 1, padding = same, use_bias = false);
                block_8_project_BN       = batch_norm(block_8_project);
                block_8_add              = add(block_7_add, block_8_project_BN);
                block_9_expand           = conv2d(block_8_add, 384, 1, padding = same, use_bias = false);
                block_9_expand_BN        = batch_norm(block_9_expand);
                block_9_expand_relu      = relu6(block_9_expand_BN);
                block_9_depthwise        = depthwise_conv2d(block_9_expand_relu, 3, padding = same, use_bias = false);
                block_9_depthwise_BN     = batch_norm(block_9_depthwise);
                block_9_depthwise_relu   = relu6(block_9_depthwise_BN);
                block_9_project          = conv2d(block_9_depthwise_relu, 64, 1, padding = same, use_bias = false);
                block_9_project_BN       = batch_norm(block_9_project);
                block_9_add              = add(block_8_add, block_9_project_BN);
                block_10_expand          = conv2d(block_9_add, 384, 1, padding = same, use_bias = false);
                block_10_expand_BN       = batch_norm(block_10_expand);
                block_10_expand_relu     = relu6(block_10_expand_BN);
                block_10_depthwise       = depthwise_conv2d(block_10_expand_relu, 3, padding = same, use_bias = false);
                block_10_depthwise_BN    = batch_norm(block_10_depthwise);
                block_10_depthwise_relu  = relu6(block_10_depthwise_BN);
                block_10_project         = conv2d(block_10_depthwise_relu, 96, 1, padding = same, use_bias = false);
                block_10_project_BN      = batch_norm(block_10_project);
                block_11_expand          = conv2d(block_10_project_BN, 576, 1, padding = same, use_bias = false);
                block_11_expand_BN       = batch_norm(block_11_expand);
                block_11_expand_relu     = relu6(block_11_expand_BN);
                block_11_depthwise       = depthwise_conv2d(block_11_expand_relu, 3, padding = same, use_bias = false);
                block_11_depthwise_BN    = batch_norm(block_11_depthwise);
                block_11_depthwise_relu  = relu6(block_11_depthwise_BN);
                block_11_project         = conv2d(block_11_depthwise_relu, 96, 1, padding = same, use_bias = false);
                block_11_project_BN      = batch_norm(block_11_project);
                block_11_add             = add(block_10_project_BN, block_11_project_BN);
                block_12_expand          = conv2d(block_11_add, 576, 1, padding = same, use_bias = false);
                block_12_expand_BN       = batch_norm(block_12_expand);
                block_12_expand_relu     = relu6(block_12_expand_BN);
                block_12_depthwise       = depthwise_conv2d(block_12_expand_relu, 3, padding = same, use_bias = false);
                block_12_depthwise_BN    = batch_norm(block_12_depthwise);
                block_12_depthwise_relu  = relu6(block_12_depthwise_BN);
                block_12_project         = conv2d(block_12_depthwise_relu, 96, 1, padding = same, use_bias = false);
                block_12_project_BN      = batch_norm(block_12_project);
                block_12_add             = add(block_11_add, block_12_project_BN);
                block_13_expand          = conv2d(block_12_add, 576, 1, padding = same, use_bias = false);
                block_13_expand_BN       = batch_norm(block_13_expand);
                block_13_expand_relu     = relu6(block_13_expand_BN);
                block_13_pad             = zero_padding2d(block_13_expand_relu, ((0, 1), (0, 1)));
                block_13_depthwise       = depthwise_conv2d(block_13_pad, 3, strides = 2, use_bias = false);
                block_13_depthwise_BN    = batch_norm(block_13_depthwise);
                block_13_depthwise_relu  = relu6(block_13_depthwise_BN);
                block_13_project         = conv2d(block_13_depthwise_relu, 160, 1, padding = same, use_bias = false);
                block_13_project_BN      = batch_norm(block_13_project);
                block_14_expand          = conv2d(block_13_project_BN, 960, 1, padding = same, use_bias = false);
                block_14_expand_BN       = batch_norm(block_14_expand);
                block_14_expand_relu     = relu6(block_14_expand_BN);
                block_14_depthwise       = depthwise_conv2d(block_14_expand_relu, 3, padding = same, use_bias = false);
                block_14_depthwise_BN    = batch_norm(block_14_depthwise);
                block_14_depthwise_relu  = relu6(block_14_depthwise_BN);
                block_14_project         = conv2d(block_14_depthwise_relu, 160, 1, padding = same, use_bias = false);
                block_14_project_BN      = batch_norm(block_14_project);
                block_14_add             = add(block_13_project_BN, block_14_project_BN);
                block_15_expand          = conv2d(block_14_add, 960, 1, padding = same, use_bias = false);
                block_15_expand_BN       = batch_norm(block_15_expand);
                block_15_expand_relu     = relu6(block_15_expand_BN);
                block_15_depthwise       = depthwise_conv2d(block_15_expand_relu, 3, padding = same, use_bias = false);
                block_15_depthwise_BN    = batch_norm(block_15_depthwise);
                block_15_depthwise_relu  = relu6(block_15_depthwise_BN);
                block_15_project         = conv2d(block_15_depthwise_relu, 160, 1, padding = same, use_bias = false);
                block_15_project_BN      = batch_norm(block_15_project);
                block_15_add             = add(block_14_add, block_15_project_BN);
                block_16_expand          = conv2d(block_15_add, 960, 1, padding = same, use_bias = false);
                block_16_expand_BN       = batch_norm(block_16_expand);
                block_16_expand_relu     = relu6(block_16_expand_BN);
                block_16_depthwise       = depthwise_conv2d(block_16_expand_relu, 3, padding = same, use_bias = false);
                block_16_depthwise_BN    = batch_norm(block_16_depthwise);
                block_16_depthwise_relu  = relu6(block_16_depthwise_BN);
                block_16_project         = conv2d(block_16_depthwise_relu, 320, 1, padding = same, use_bias = false);
                block_16_project_BN      = batch_norm(block_16_project);
                Conv_1                   = conv2d(block_16_project_BN, 1280, 1, use_bias = false);
                Conv_1_bn                = batch_norm(Conv_1);
                out_relu                 = relu6(Conv_1_bn);
                global_average_pooling2d = global_avg_pool2d(out_relu);
                predictions              = dense(global_average_pooling2d, 1000, activation = softmax);
            }
        }
    };
}

#[allow(unused_imports)]
pub(crate) use {apes_block_net, mobilenet_v2, seed_unet};
