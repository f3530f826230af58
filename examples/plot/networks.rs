//! The networks `examples/plot` draws: the anchors' seed U-Net and
//! ApesBlock net, and `keras.applications.MobileNetV2` as the importer
//! prints it. `tests/pictures.rs` includes this file too, to check that the
//! committed pictures in `doc/pictures/` are what the example writes.

// The workspaces and weights are not used: only the pictures.
#![allow(dead_code)]

#[path = "../../tests/common/anchors.rs"]
#[macro_use]
mod anchors;

seed_unet! {
    /// The seed U-Net: an encoder-decoder with concatenate skips, 32x32x3.
    SeedUnet([32, 32, 3]) -> output
}

apes_block_net! {
    /// Parallel 3x3 and 1x1 conv paths merged by `add`, 64x64x16.
    ApesBlockNet
}

mobilenet_v2! {
    /// `keras.applications.MobileNetV2` (224x224x3), imported by
    /// `tools/keras_to_skipnet.py`.
    MobilenetV2
}

/// One picture: its file name and its text.
pub struct Picture {
    pub file: &'static str,
    pub svg: &'static str,
}

/// Every picture the example writes, in order.
pub fn pictures() -> Vec<Picture> {
    let p = |file, svg| Picture { file, svg };
    vec![
        p("seed_unet.graph.svg", SeedUnet::graph_svg()),
        p("seed_unet.arena.svg", SeedUnet::arena_svg()),
        p("seed_unet.dot", SeedUnet::graph_dot()),
        p("apes_block_net.graph.svg", ApesBlockNet::graph_svg()),
        p("apes_block_net.arena.svg", ApesBlockNet::arena_svg()),
        p("apes_block_net.dot", ApesBlockNet::graph_dot()),
        p("mobilenet_v2.graph.svg", MobilenetV2::graph_svg()),
        p("mobilenet_v2.arena.svg", MobilenetV2::arena_svg()),
        p("mobilenet_v2.dot", MobilenetV2::graph_dot()),
    ]
}
