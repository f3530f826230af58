//! Winograd convolution for stride-1, undilated, ungrouped 3x3 layers
//! (Lavin & Gray 2015, as in ncnn and NNPACK): fewer multiplications than
//! the direct algorithm for the same result up to rounding.
//!
//! `F(m x m, 3x3)` computes an `m x m` output tile from an `n x n` input tile
//! (`n = m + 2`) as `Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A`: the elementwise product
//! summed over input channels is `n * n` independent matrix products
//! (tiles x cin times cin x filters), which run on the same register tiles as
//! the direct kernel ([`crate::igemm`]). Per output, `F(2x2)` does 16/4 = 4
//! multiply-adds per input channel instead of 9 (2.25x fewer), `F(4x4)`
//! 36/16 = 2.25 (4x fewer), at the price of the transforms and of rounding
//! error that grows with the transforms' constants (see [`WinogradTile`]).
//!
//! The kernel is transformed once, at load or bake time ([`pack_kernel`], in
//! float64). The input is transformed a block of tiles at a time into
//! scratch memory the planner places (`V`, position-major, so each
//! position's matrix product reads contiguous rows); each task then runs the
//! `n * n` products of its tiles and filters into a second scratch region
//! (`M`) and transforms those back into the output, where the direct
//! kernel's epilogue applies: bias, activation, residual adds, in-place
//! accumulation, the post-activation and a concat slot. A folded nearest
//! upsample is read through, like the direct kernel does. Results do not
//! depend on the thread count: every output is computed by one task in one
//! order.

use crate::exec::Exec;
use crate::geom::Conv2dGeom;
use crate::igemm::driver::Kernel;
use crate::igemm::epilogue::{copy_run, epilogue, load_lanes};
use crate::igemm::{self, Isa, OutLayout, OutPtr, PANEL};
use crate::Activation;

/// The Winograd variant: output tile side `m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WinogradTile {
    /// `F(2x2, 3x3)`: 4x4 input tiles, 2.25x fewer multiply-adds, transform
    /// constants 0, ±1 and ±1/2: rounding close to the direct algorithm's.
    F2,
    /// `F(4x4, 3x3)`: 6x6 input tiles, 4x fewer multiply-adds; constants up
    /// to 8 (output) and 2.5 (input) make its float32 error a few times the
    /// direct algorithm's (measured in `tests/kernel_props.rs`).
    F4,
}

impl WinogradTile {
    /// Output tile side.
    pub const fn m(self) -> usize {
        match self {
            WinogradTile::F2 => 2,
            WinogradTile::F4 => 4,
        }
    }

    /// Input tile side (`m + 2`).
    pub const fn n(self) -> usize {
        self.m() + 2
    }

    /// Transformed positions (`n * n`): matrix products per tile.
    pub const fn positions(self) -> usize {
        self.n() * self.n()
    }

    /// How `summary()` names it.
    pub const fn name(self) -> &'static str {
        match self {
            WinogradTile::F2 => "winograd F(2x2,3x3)",
            WinogradTile::F4 => "winograd F(4x4,3x3)",
        }
    }
}

/// A conv layer computed by Winograd: its geometry and the variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WinogradGeom {
    /// The layer (must satisfy [`supports`]).
    pub conv: Conv2dGeom,
    /// The variant.
    pub tile: WinogradTile,
}

/// Whether Winograd can compute this layer: a 3x3 kernel, stride 1, no
/// dilation, one group.
pub const fn supports(g: &Conv2dGeom) -> bool {
    g.kernel.0 == 3
        && g.kernel.1 == 3
        && g.strides.0 == 1
        && g.strides.1 == 1
        && g.dilation.0 == 1
        && g.dilation.1 == 1
        && g.groups == 1
}

/// The variant the macro compiles a conv with, or `None` for the direct
/// kernel: a stride-1 undilated ungrouped 3x3 conv with at least 16 input
/// channels and 16 filters, on an output map of at least 8 x 8, whose
/// scratch fits in what the layer's stored input and output already take
/// (so Winograd at most about doubles a step's memory; small maps of many
/// channels, as deep in the seed U-Net, stay direct). `cargo bench --bench
/// conv -- winograd` against `conv2d` (AVX-512, one thread): F(4x4) runs
/// 64 x 64 maps of 16 channels 1.25x faster than the direct kernel, 56 x 56
/// maps of 64 channels 2.3x, but a 7 x 7 map of 512 channels 0.9x (four
/// tiles cannot amortize streaming a transformed kernel four times the
/// direct one's size). F(4x4) everywhere it applies: its error, a few times
/// the direct algorithm's (the `winograd_error_is_documented` property
/// test), stays within every Keras fixture's tolerance. Padding and a
/// folded upsample do not matter.
pub const fn choose(g: &Conv2dGeom) -> Option<WinogradTile> {
    choose_up_to(g, WinogradTile::F4)
}

/// [`choose`] with F(4x4) allowed or not (`largest`): a network declared
/// `#[winograd = f2]` runs F(2x2) wherever `choose` would pick F(4x4) and
/// F(2x2)'s scratch fits too. F(2x2) rounds no worse than the direct kernel
/// (the `winograd_error_is_documented` property test); F(4x4), 2-3x worse,
/// takes InceptionV3 (seeded, logits up to 827) past 1.5x Keras's own
/// float32 error, and F(2x2) brings it back to 0.76x (doc/importer.md).
pub const fn choose_up_to(g: &Conv2dGeom, largest: WinogradTile) -> Option<WinogradTile> {
    let Some(tile) = worthwhile_up_to(g, largest) else {
        return None;
    };
    let wg = WinogradGeom { conv: *g, tile };
    if wg.scratch_len() > g.input.len() + g.output.len() {
        return None;
    }
    Some(tile)
}

/// [`choose`] without its memory rule: the variant that runs this layer
/// faster than the direct kernel, whatever its scratch. The macro takes it
/// where the scratch fits in arena memory that is free at the layer's step
/// anyway (the arena does not grow): deep layers of a network whose arena
/// is set by its large early maps (ResNet's 14x14x256 stage).
///
/// Its transformed kernel, 4x the direct one's size, must also be paid for
/// by enough tiles: at most [`KERNEL_FLOATS_PER_TILE`] per output tile.
/// Inside a network the kernel is not in cache, and a small map of many
/// channels is then bound by reading it: ResNet's 14x14x256 -> 256 layer
/// runs 2.1x faster than the direct kernel alone (`cargo bench --bench conv
/// -- resnet_s3`, where it stays in L3) but no faster in `resnet_like_224`
/// (2.5 ms either way, `--features profile`): its 9.4 MB kernel for 16
/// tiles is 147K floats per tile. resnet's 28x28x128 stage (12K per tile)
/// and apes_block_net's 16x16x64 block (9K) gain in the network too.
pub const fn worthwhile(g: &Conv2dGeom) -> Option<WinogradTile> {
    worthwhile_up_to(g, WinogradTile::F4)
}

/// [`worthwhile`] with F(4x4) allowed or not (`largest`, see
/// [`choose_up_to`]). The same layers qualify, judged by F(4x4)'s kernel
/// size per tile (F(2x2)'s, 16 positions per 4 outputs, is smaller).
pub const fn worthwhile_up_to(g: &Conv2dGeom, largest: WinogradTile) -> Option<WinogradTile> {
    let o = g.output;
    if !supports(g) || g.input.c < 16 || o.c < 16 || o.h < 8 || o.w < 8 {
        return None;
    }
    let wg = WinogradGeom {
        conv: *g,
        tile: WinogradTile::F4,
    };
    if wg.packed_kernel_len() > KERNEL_FLOATS_PER_TILE * wg.tiles() {
        return None;
    }
    Some(largest)
}

/// Transformed-kernel floats per output tile above which Winograd is not
/// worth it (see [`worthwhile`]).
pub const KERNEL_FLOATS_PER_TILE: usize = 16_384;

/// Whether [`conv2d_add_in_place`] accepts this layer: always (every output
/// is computed in one pass, so any activation can precede the add).
pub const fn can_add_in_place(_wg: &WinogradGeom) -> bool {
    true
}

/// Floats of the input-transform block (`V`, 128 KiB) the driver aims at;
/// blocks hold at least [`BLOCK_TILES_MIN`] tiles. Measured with `cargo
/// bench --bench conv -- winograd` (AVX-512): a 4x larger budget is at most
/// 11% faster (resnet_s2) and needs 4x the scratch, which then keeps more
/// layers direct (`choose`).
const BLOCK_BUDGET: usize = 1 << 15;

/// Tiles per block at least (one AVX-512 register tile) and at most.
/// Blocks of 24 or more are multiples of 24, so the 8-, 6- and 4-tile
/// register tiles of every ISA divide them; smaller ones multiples of 8.
const BLOCK_TILES_MIN: usize = 8;
const BLOCK_TILES_MAX: usize = 192;

/// Input channels per reduction chunk of the matrix products (the chunk's
/// transformed weights, `KC x 32` floats, stay in L1 across a task's tiles).
const KC: usize = 128;

/// Lanes the transforms work on at once (channels or filters).
const LANES: usize = 16;

/// Padding between positions in the scratch layouts (one cache line).
const SKEW: usize = 16;

/// Blocks the scratch holds: one per thread of a two-thread pool, so each
/// thread transforms and multiplies its own tiles block by block in its own
/// region and the pool wakes once per layer (sharing one block between the
/// threads woke it twice per block of a few tiles; larger shared blocks
/// left the L2 cache between the transform and the products).
const SCRATCH_BLOCKS: usize = 2;

impl WinogradGeom {
    /// Output tiles down and across.
    pub const fn tiles_hw(&self) -> (usize, usize) {
        let m = self.tile.m();
        (
            self.conv.output.h.div_ceil(m),
            self.conv.output.w.div_ceil(m),
        )
    }

    /// Output tiles in all.
    pub const fn tiles(&self) -> usize {
        let (th, tw) = self.tiles_hw();
        th * tw
    }

    /// Tiles transformed per block: as many as fit the budget (a multiple
    /// of 24, or of 8 below 24), never more than the layer has.
    pub const fn block_tiles(&self) -> usize {
        let per_tile = self.tile.positions() * self.conv.input.c;
        let mut t = BLOCK_BUDGET / if per_tile == 0 { 1 } else { per_tile };
        t -= t % if t >= 24 { 24 } else { BLOCK_TILES_MIN };
        if t < BLOCK_TILES_MIN {
            t = BLOCK_TILES_MIN;
        }
        if t > BLOCK_TILES_MAX {
            t = BLOCK_TILES_MAX;
        }
        // Smaller blocks (down to one AVX-512 register tile) where that
        // brings the scratch within the layer's operands (`choose`):
        // blocks of 8 tiles run as fast as larger ones on one thread.
        let operands = self.conv.input.len() + self.conv.output.len();
        while t > BLOCK_TILES_MIN && self.scratch_len_for(t) > operands {
            t -= BLOCK_TILES_MIN;
        }
        let all = self.tiles();
        if all < t {
            all
        } else {
            t
        }
    }

    /// [`WinogradGeom::scratch_len`] for blocks of `bt` tiles.
    const fn scratch_len_for(&self, bt: usize) -> usize {
        let (v, m) = self.region_len(bt);
        SCRATCH_BLOCKS * (v + m)
    }

    /// Filters rounded up to whole pairs of panels (the widest register tile).
    const fn filters_padded(&self) -> usize {
        igemm::panels_per_group(&self.conv) * PANEL
    }

    /// f32 elements of the transformed kernel: `[position][panel][cin][PANEL]`.
    pub const fn packed_kernel_len(&self) -> usize {
        self.tile.positions() * self.conv.input.c * self.filters_padded()
    }

    /// Floats of one worker's scratch region for blocks of `bt` tiles: the
    /// transformed input (`positions x (bt x cin + SKEW)`: rows of one
    /// position `bt x cin` floats apart plus [`SKEW`], so that the rows of
    /// one tile's positions do not all fall into the same L1 set, `bt x cin
    /// x 4` bytes being often a multiple of 4 KiB) and the products
    /// (`filters / tn x positions x (bt x tn + SKEW)` with padded filters,
    /// at most `positions x filters x (bt + 1)` for `tn` of 16 or 32).
    const fn region_len(&self, bt: usize) -> (usize, usize) {
        let npos = self.tile.positions();
        (
            npos * (bt * self.conv.input.c + SKEW),
            npos * self.filters_padded() * (bt + 1),
        )
    }

    /// f32 elements of scratch memory a call needs: [`SCRATCH_BLOCKS`]
    /// regions of one block each.
    pub const fn scratch_len(&self) -> usize {
        self.scratch_len_for(self.block_tiles())
    }

    /// Multiply-adds of one call (the matrix products; transforms not counted).
    pub const fn macs(&self) -> usize {
        self.tile.positions() * self.tiles() * self.conv.input.c * self.conv.output.c
    }
}

// The transforms, from Lavin & Gray (2015). F(2x2) interpolates at 0, ±1,
// ∞. F(4x4) at 0, -1, 1, 1/2, -2, ∞ (Barabasz, Anderson, Soodhalter and
// Gregg 2020, "Error analysis and improving the accuracy of Winograd
// convolution for deep neural networks"): the same operation count as the
// points 0, ±1, ±2 that ncnn and NNPACK use, half their float32 error (a
// simulation of 64-channel tiles: 3.7e-6 against 7.2e-6, the direct sum
// 2.7e-7), which decides whether a 50-layer ResNet stays as close to a
// float64 run as Keras's own float32 result is.

/// `G` of F(2x2, 3x3): kernel transform, 4 x 3.
const G2: [[f64; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0.0, 0.0, 1.0],
];

/// `G` of F(4x4, 3x3): kernel transform, 6 x 3. Row `i` is `[1, p, p²] /
/// Π_{j≠i}(p - p_j)` for point `p = p_i` of 0, -1, 1, 1/2, -2; the last
/// row is the point at infinity.
const G4: [[f64; 3]; 6] = [
    [1.0, 0.0, 0.0],
    [-1.0 / 3.0, 1.0 / 3.0, -1.0 / 3.0],
    [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
    [-16.0 / 15.0, -8.0 / 15.0, -4.0 / 15.0],
    [1.0 / 15.0, -2.0 / 15.0, 4.0 / 15.0],
    [0.0, 0.0, 1.0],
];

/// `Bᵀ d` of F(2x2) along one axis, on `LANES` channels at once.
#[inline(always)]
fn bt2(d: &[[f32; LANES]; 4], r: &mut [[f32; LANES]; 4]) {
    for l in 0..LANES {
        let [d0, d1, d2, d3] = [d[0][l], d[1][l], d[2][l], d[3][l]];
        r[0][l] = d0 - d2;
        r[1][l] = d1 + d2;
        r[2][l] = d2 - d1;
        r[3][l] = d1 - d3;
    }
}

/// `Aᵀ m` of F(2x2) along one axis (rows 2 and 3 of `r` left as they are).
#[inline(always)]
fn at2(m: &[[f32; LANES]; 4], r: &mut [[f32; LANES]; 4]) {
    for l in 0..LANES {
        let [m0, m1, m2, m3] = [m[0][l], m[1][l], m[2][l], m[3][l]];
        r[0][l] = m0 + m1 + m2;
        r[1][l] = m1 - m2 - m3;
    }
}

/// `Bᵀ d` of F(4x4) along one axis: row `i` holds the coefficients of
/// `Π_{j≠i}(x - p_j)` (points 0, -1, 1, 1/2, -2), the last those of
/// `Π_j(x - p_j)`; every constant is exact in binary.
#[inline(always)]
fn bt4(d: &[[f32; LANES]; 6], r: &mut [[f32; LANES]; 6]) {
    for l in 0..LANES {
        let [d0, d1, d2, d3, d4, d5] = [d[0][l], d[1][l], d[2][l], d[3][l], d[4][l], d[5][l]];
        r[0][l] = d0 - 1.5 * d1 - 2.0 * d2 + 1.5 * d3 + d4;
        r[1][l] = d1 - 2.5 * d2 + 0.5 * d3 + d4;
        r[2][l] = 0.5 * d2 - d1 + 2.5 * d3 + d4;
        r[3][l] = 2.0 * (d3 - d1) - d2 + d4;
        r[4][l] = 0.5 * (d1 - d3) - d2 + d4;
        r[5][l] = d1 - 1.5 * d2 - 2.0 * d3 + 1.5 * d4 + d5;
    }
}

/// `Aᵀ m` of F(4x4) along one axis (rows 4 and 5 of `r` left as they are):
/// row `k` is `p^k` at each point, 1 at infinity for the last.
#[inline(always)]
fn at4(m: &[[f32; LANES]; 6], r: &mut [[f32; LANES]; 6]) {
    for l in 0..LANES {
        let [m0, m1, m2, m3, m4, m5] = [m[0][l], m[1][l], m[2][l], m[3][l], m[4][l], m[5][l]];
        let (s, d) = (m1 + m2, m2 - m1);
        r[0][l] = m0 + s + m3 + m4;
        r[1][l] = d + 0.5 * m3 - 2.0 * m4;
        r[2][l] = s + 0.25 * m3 + 4.0 * m4;
        r[3][l] = d + 0.125 * m3 - 8.0 * m4 + m5;
    }
}

/// Transforms a Keras `[3, 3, cin, filters]` kernel into
/// `[position][panel][cin][PANEL]` (`G g Gᵀ` per input channel and filter,
/// computed in float64 and rounded once), zero-filling padded filters.
///
/// # Panics
/// If the layer is not [`supports`]ed or a length differs from the geometry.
pub fn pack_kernel(wg: &WinogradGeom, kernel: &[f32], packed: &mut [f32]) {
    let g = &wg.conv;
    igemm::validate(g);
    assert!(
        supports(g),
        "winograd: not a stride-1 undilated 3x3 conv ({g:?})"
    );
    assert_eq!(kernel.len(), g.kernel_len(), "kernel length");
    assert_eq!(packed.len(), wg.packed_kernel_len(), "packed kernel length");
    let (cin, f) = (g.input.c, g.output.c);
    let fp = wg.filters_padded();
    packed.fill(0.0);
    let n = wg.tile.n();
    let gm: &[[f64; 3]] = match wg.tile {
        WinogradTile::F2 => &G2,
        WinogradTile::F4 => &G4,
    };
    for c in 0..cin {
        for j in 0..f {
            let w = |ky: usize, kx: usize| f64::from(kernel[((ky * 3 + kx) * cin + c) * f + j]);
            // `G g`: n x 3, then `(G g) Gᵀ`: n x n.
            let mut gg = [[0.0f64; 3]; 6];
            for (a, row) in gm.iter().enumerate() {
                for (kx, v) in gg[a].iter_mut().enumerate() {
                    *v = (0..3).map(|ky| row[ky] * w(ky, kx)).sum();
                }
            }
            for (a, gga) in gg[..n].iter().enumerate() {
                for (b, row) in gm.iter().enumerate() {
                    let u: f64 = (0..3).map(|kx| gga[kx] * row[kx]).sum();
                    let pos = a * n + b;
                    let (panel, lane) = (j / PANEL, j % PANEL);
                    packed[((pos * (fp / PANEL) + panel) * cin + c) * PANEL + lane] = u as f32;
                }
            }
        }
    }
}

/// One call's operands, shared by its tasks.
pub(crate) struct Job<'a> {
    pub wg: &'a WinogradGeom,
    pub x: &'a [f32],
    pub packed: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub out: OutPtr<'a>,
    pub layout: OutLayout<'a>,
    /// This worker's transformed input block, `[position][tile][cin]`,
    /// positions `v_stride` floats apart.
    pub v: OutPtr<'a>,
    pub v_stride: usize,
    /// This worker's products, `[filter tile][position][tile][tn]`,
    /// positions `m_tiles * tn + SKEW` floats apart.
    pub m: OutPtr<'a>,
    pub m_tiles: usize,
    /// The block's first tile and its tile count.
    pub block: (usize, usize),
}

/// A task of the products: tiles `t.0..t.1` of the block, filters
/// `n.0..n.1` (`n.0` a multiple of the ISA's tile width).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Part {
    pub t: (usize, usize),
    pub n: (usize, usize),
}

/// Runs `wg` on `exec`'s threads with `isa` (or the portable kernel if the
/// CPU lacks it), writing through `layout` like [`igemm::conv_on`].
/// `scratch` holds at least [`WinogradGeom::scratch_len`] floats (its
/// contents on entry do not matter).
///
/// # Panics
/// If a slice length differs from the geometry or the layout leaves `out`.
#[allow(clippy::too_many_arguments)]
pub fn conv_on(
    exec: &mut Exec,
    isa: Isa,
    wg: &WinogradGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    layout: OutLayout<'_>,
    scratch: &mut [f32],
) {
    let g = &wg.conv;
    igemm::validate(g);
    assert!(
        supports(g),
        "winograd: not a stride-1 undilated 3x3 conv ({g:?})"
    );
    assert_eq!(x.len(), g.input.len(), "conv2d: input length");
    assert_eq!(
        packed.len(),
        wg.packed_kernel_len(),
        "conv2d: packed kernel length"
    );
    assert!(
        scratch.len() >= wg.scratch_len(),
        "winograd: {} floats of scratch, {} needed",
        scratch.len(),
        wg.scratch_len()
    );
    igemm::check_layout(g, out.len(), &layout);
    if let Some(b) = bias {
        assert_eq!(b.len(), g.output.c, "conv2d: bias length");
    }
    for r in layout.residual {
        assert_eq!(r.len(), g.output.len(), "conv2d: residual length");
    }
    let isa = if isa.available() { isa } else { Isa::Scalar };
    let tiles = wg.tiles();
    let big = g.output.h * g.output.w * g.output.c * 9 * g.input.c >= igemm::PARALLEL_MIN_MACS;
    // Workers, each with its own scratch region and contiguous share of the
    // tiles; blocks as large as the regions allow.
    let bt = wg.block_tiles();
    let mut workers = if big { exec.threads().min(tiles) } else { 1 };
    let mut wbt = bt;
    if workers > SCRATCH_BLOCKS {
        let (v1, m1) = wg.region_len(1);
        let (v0, m0) = wg.region_len(0);
        let per_tile = (v1 + m1) - (v0 + m0);
        let room = wg.scratch_len() / workers;
        wbt = room.saturating_sub(v0 + m0) / per_tile.max(1);
        if wbt == 0 {
            (workers, wbt) = (1, bt);
        }
    }
    let (v_len, m_len) = wg.region_len(wbt);
    let scratch = OutPtr::new(scratch);
    let out = OutPtr::new(out);
    let work = |w: usize| {
        // Worker `w` alone uses region `w` of the scratch (the regions are
        // disjoint: `workers * (v_len + m_len) <= scratch_len`), and writes
        // only its own tiles' outputs.
        let base = w * (v_len + m_len);
        let mut job = Job {
            wg,
            x,
            packed,
            bias,
            out,
            layout,
            v: scratch.sub(base, v_len),
            v_stride: wbt * g.input.c + SKEW,
            m: scratch.sub(base + v_len, m_len),
            m_tiles: wbt,
            block: (0, 0),
        };
        let (lo, hi) = (w * tiles / workers, (w + 1) * tiles / workers);
        let mut t0 = lo;
        while t0 < hi {
            let nt = wbt.min(hi - t0);
            job.block = (t0, nt);
            igemm::winograd_input(isa, &job, (0, nt));
            let whole = Part {
                t: (0, nt),
                n: (0, g.output.c),
            };
            igemm::winograd_products(isa, &job, whole);
            t0 += nt;
        }
    };
    if workers == 1 {
        work(0);
    } else {
        exec.run(workers, &work);
    }
}

/// The input transform of tiles `tiles.0..tiles.1` of the job's block into
/// `V`; instantiated inside each ISA's `#[target_feature]` function.
#[inline(always)]
pub(crate) fn input_part(job: &Job<'_>, tiles: (usize, usize)) {
    match job.wg.tile {
        WinogradTile::F2 => input_part_n::<4>(job, tiles, bt2),
        WinogradTile::F4 => input_part_n::<6>(job, tiles, bt4),
    }
}

#[inline(always)]
fn input_part_n<const N: usize>(
    job: &Job<'_>,
    tiles: (usize, usize),
    bt: impl Fn(&[[f32; LANES]; N], &mut [[f32; LANES]; N]),
) {
    let wg = job.wg;
    let g = &wg.conv;
    let (inp, m) = (g.input, wg.tile.m());
    let (h_up, w_up) = (inp.h * g.upsample.0, inp.w * g.upsample.1);
    let (_, tiles_w) = wg.tiles_hw();
    let v_stride = job.v_stride;
    let cin = inp.c;
    // Working arrays, filled in place (building them by value cost a
    // `memcpy` or `memset` per tile and channel block).
    let mut d = [[0.0f32; LANES]; N];
    let mut rows = [[[0.0f32; LANES]; N]; N];
    let mut col = [[0.0f32; LANES]; N];
    let mut v = [[0.0f32; LANES]; N];
    for t in tiles.0..tiles.1 {
        let id = job.block.0 + t;
        let (y0, x0) = (
            (id / tiles_w * m) as isize - g.pad.0 as isize,
            (id % tiles_w * m) as isize - g.pad.1 as isize,
        );
        // Offsets of the tile's input cells (None: padding), computed once.
        // A tile that overhangs the output map's bottom or right edge reads
        // only the cells its kept outputs read (the rest are zeros): the
        // transforms mix every cell of the tile into every output, so data
        // only discarded outputs would read (an input column past a wide
        // folded padding) would otherwise add its rounding to outputs whose
        // exact value does not depend on it.
        let o = g.output;
        let (rows_kept, cols_kept) = (m.min(o.h - id / tiles_w * m), m.min(o.w - id % tiles_w * m));
        let (i_end, j_end) = (rows_kept + 2, cols_kept + 2);
        let mut cells = [[None; N]; N];
        for (i, row) in cells.iter_mut().enumerate().take(i_end) {
            for (j, cell) in row.iter_mut().enumerate().take(j_end) {
                let (iy, ix) = (y0 + i as isize, x0 + j as isize);
                if iy >= 0 && ix >= 0 && (iy as usize) < h_up && (ix as usize) < w_up {
                    let (iy, ix) = (iy as usize / g.upsample.0, ix as usize / g.upsample.1);
                    *cell = Some((iy * inp.w + ix) * cin);
                }
            }
        }
        let mut c0 = 0;
        while c0 < cin {
            let nc = LANES.min(cin - c0);
            // Rows transformed along x, then columns along y.
            for (i, row) in rows.iter_mut().enumerate() {
                for (j, dj) in d.iter_mut().enumerate() {
                    *dj = match cells[i][j] {
                        Some(off) => load_lanes::<LANES>(&job.x[off + c0..][..nc]),
                        None => [0.0; LANES],
                    };
                }
                bt(&d, row);
            }
            for b in 0..N {
                for (c, row) in col.iter_mut().zip(&rows) {
                    *c = row[b];
                }
                bt(&col, &mut v);
                for (a, va) in v.iter().enumerate() {
                    let pos = a * N + b;
                    // SAFETY: `V` is this worker's region, and no reference
                    // to it outlives the statement that forms it.
                    let dst = unsafe { job.v.row(pos * v_stride + t * cin + c0, nc) };
                    copy_run(dst, &va[..nc]);
                }
            }
            c0 += nc;
        }
    }
}

/// The products and output transform of `part`; instantiated inside each
/// ISA's `#[target_feature]` function with its `MR x TN` register tile
/// (the direct kernel's [`Kernel`]).
///
/// # Safety
/// The CPU supports `K`'s ISA.
#[inline(always)]
pub(crate) unsafe fn products_part<
    K: Kernel<MR, TN, MB, WIN>,
    const MR: usize,
    const TN: usize,
    const MB: usize,
    const WIN: usize,
>(
    _k: K,
    job: &Job<'_>,
    part: Part,
) {
    let wg = job.wg;
    let g = &wg.conv;
    let cin = g.input.c;
    let npos = wg.tile.positions();
    let (v_stride, m_stride) = (job.v_stride, job.m_tiles * TN + SKEW);
    let panels = wg.filters_padded() / PANEL;
    let panel_stride = cin * PANEL;
    let (ta, tb) = part.t;
    if ta >= tb {
        return;
    }
    let mut n0 = part.n.0;
    while n0 < part.n.1 {
        // This filter tile's products: `[position][tile][TN]`.
        let m_base = n0 / TN * npos * m_stride;
        for pos in 0..npos {
            let b0 = job.packed[(pos * panels + n0 / PANEL) * panel_stride..].as_ptr();
            let mut c0 = 0;
            while c0 < cin {
                let nc = KC.min(cin - c0);
                let mut t = ta;
                while t < tb {
                    let rows = MR.min(tb - t);
                    let mut srcs = [[core::ptr::null::<f32>(); MR]; 1];
                    // `V` is read without forming references: it is this
                    // worker's region, written by its own input transform
                    // before these products run.
                    for (mi, s) in srcs[0].iter_mut().enumerate() {
                        // Rows past the part read its first tile (valid, unused).
                        let tt = if mi < rows { t + mi } else { ta };
                        *s = job.v.read_ptr(pos * v_stride + tt * cin, cin);
                    }
                    // SAFETY: from `b0`, rows `c0..c0 + nc` of this panel
                    // and, for 32-wide tiles, the next (panel counts are
                    // even) are inside `packed`.
                    let b = unsafe { b0.add(c0 * PANEL) };
                    // SAFETY: `M` is this worker's region, and this call
                    // alone covers tiles `ta..tb` of filter tile `n0 / TN`
                    // in it: no other reference to these rows.
                    let m_rows = unsafe { job.m.row(m_base + pos * m_stride + t * TN, rows * TN) };
                    // A local accumulator the inlined tile keeps in registers.
                    let mut acc = [[0.0f32; TN]; MR];
                    if c0 > 0 {
                        for (a, m) in acc.iter_mut().zip(m_rows.chunks_exact(TN)) {
                            copy_run(a, m);
                        }
                    }
                    // SAFETY: the CPU supports `K`'s ISA (this function's
                    // contract); each `srcs` pointer is a `V` row of `cin`
                    // floats, of which channels `c0..c0 + nc` are read; one
                    // tap, whose `nc` rows from `b` are inside the panel
                    // (and the next, for 32-wide tiles).
                    unsafe { K::tile(&srcs, c0, nc, b, panel_stride, panel_stride, &mut acc) };
                    for (a, m) in acc.iter().zip(m_rows.chunks_exact_mut(TN)) {
                        copy_run(m, a);
                    }
                    t += rows;
                }
                c0 += nc;
            }
        }
        let ncols = TN.min(part.n.1 - n0);
        match wg.tile {
            WinogradTile::F2 => output_n::<4, TN>(job, (ta, tb), n0, ncols, m_base, at2),
            WinogradTile::F4 => output_n::<6, TN>(job, (ta, tb), n0, ncols, m_base, at4),
        }
        n0 += TN;
    }
}

/// Output transform of tiles `tiles` for filters `n0..n0 + ncols`, with the
/// epilogue.
#[inline(always)]
fn output_n<const N: usize, const TN: usize>(
    job: &Job<'_>,
    tiles: (usize, usize),
    n0: usize,
    ncols: usize,
    m_base: usize,
    at: impl Fn(&[[f32; LANES]; N], &mut [[f32; LANES]; N]),
) {
    let wg = job.wg;
    let g = &wg.conv;
    let o = g.output;
    let mt = wg.tile.m();
    let (_, tiles_w) = wg.tiles_hw();
    let m_stride = job.m_tiles * TN + SKEW;
    let layout = &job.layout;
    // Working arrays, filled in place (see `input_part_n`).
    let mut mrow = [[0.0f32; LANES]; N];
    let mut s = [[[0.0f32; LANES]; N]; N];
    let mut col = [[0.0f32; LANES]; N];
    let mut y = [[0.0f32; LANES]; N];
    for t in tiles.0..tiles.1 {
        let id = job.block.0 + t;
        let (oy0, ox0) = (id / tiles_w * mt, id % tiles_w * mt);
        let mut f0 = 0;
        while f0 < ncols {
            let nl = LANES.min(ncols - f0);
            // Columns transformed along x, then rows along y.
            for (a, sa) in s.iter_mut().enumerate() {
                for (b, mb) in mrow.iter_mut().enumerate() {
                    // SAFETY: `M` is this worker's region, and this call
                    // alone covers these tiles and filters
                    // of `M`; nothing else references them.
                    let src =
                        unsafe { job.m.row(m_base + (a * N + b) * m_stride + t * TN + f0, nl) };
                    *mb = load_lanes::<LANES>(src);
                }
                at(&mrow, sa);
            }
            for q in 0..mt {
                for (c, sa) in col.iter_mut().zip(&s) {
                    *c = sa[q];
                }
                at(&col, &mut y);
                let ox = ox0 + q;
                if ox >= o.w {
                    continue;
                }
                for (p, yp) in y[..mt].iter().enumerate() {
                    let oy = oy0 + p;
                    if oy >= o.h {
                        continue;
                    }
                    let pixel = oy * o.w + ox;
                    let f = n0 + f0;
                    // SAFETY: workers write disjoint (tiles x filters) parts
                    // of the output; this pixel belongs to tile `id` alone.
                    let row = unsafe { job.out.row(pixel * layout.stride + layout.offset + f, nl) };
                    epilogue(
                        row,
                        yp,
                        job.bias.map(|b| &b[f..f + nl]),
                        g.activation,
                        layout,
                        pixel * o.c + f,
                    );
                }
            }
            f0 += nl;
        }
    }
}

/// `out = activation(conv(x, kernel) + bias)` by Winograd, the kernel packed
/// by [`pack_kernel`]; `scratch` of at least [`WinogradGeom::scratch_len`].
pub fn conv2d(
    exec: &mut Exec,
    wg: &WinogradGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let isa = exec.isa();
    let layout = OutLayout::plain(wg.conv.output.c);
    conv_on(exec, isa, wg, x, packed, bias, out, layout, scratch)
}

/// As [`crate::ops::conv2d::conv2d_add`], by Winograd.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_add(
    exec: &mut Exec,
    wg: &WinogradGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    residual: &[&[f32]],
    post: Activation,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let layout = OutLayout {
        residual,
        post,
        ..OutLayout::plain(wg.conv.output.c)
    };
    let isa = exec.isa();
    conv_on(exec, isa, wg, x, packed, bias, out, layout, scratch)
}

/// As [`crate::ops::conv2d::conv2d_add_in_place`], by Winograd (always one
/// pass, so any activation is allowed).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_add_in_place(
    exec: &mut Exec,
    wg: &WinogradGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    residual: &[&[f32]],
    post: Activation,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let layout = OutLayout {
        residual,
        accumulate: true,
        post,
        ..OutLayout::plain(wg.conv.output.c)
    };
    let isa = exec.isa();
    conv_on(exec, isa, wg, x, packed, bias, out, layout, scratch)
}

/// As [`crate::ops::conv2d::conv2d_into`] (a concat slot), by Winograd.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_into(
    exec: &mut Exec,
    wg: &WinogradGeom,
    x: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    stride: usize,
    offset: usize,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let layout = OutLayout {
        stride,
        offset,
        ..OutLayout::plain(wg.conv.output.c)
    };
    let isa = exec.isa();
    conv_on(exec, isa, wg, x, packed, bias, out, layout, scratch)
}
