//! Pictures of three networks, drawn by the `network!` macro at compile time:
//!
//! ```sh
//! cargo run --example plot -- doc/pictures
//! ```
//!
//! writes, for the seed U-Net, the ApesBlock net and MobileNetV2, the graph
//! (`<net>.graph.svg`, `Net::graph_svg()`), the arena plan
//! (`<net>.arena.svg`, `Net::arena_svg()`) and the graph in Graphviz DOT
//! (`<net>.dot`, `Net::graph_dot()`) into the directory given (created if
//! missing). The README shows the seed U-Net's two pictures from
//! `doc/pictures/`; `tests/pictures.rs` checks they equal what this writes.

mod networks;

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: cargo run --example plot -- <out_dir>");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for p in networks::pictures() {
        let path = dir.join(p.file);
        std::fs::write(&path, p.svg)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("{} ({} bytes)", path.display(), p.svg.len());
    }
    Ok(())
}
