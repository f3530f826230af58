//! Run-time half of skipnet: the kernels a `network!`-generated `forward` calls,
//! the statically planned [`Arena`], weight storage ([`Param`]) and, with the `std`
//! feature, weight loading from safetensors bytes ([`WeightFile`]).
//!
//! This crate knows nothing of graphs: every kernel takes its geometry as plain
//! numbers computed by the macro at compile time, reads from slices and writes into
//! a slice of the arena. It is `#![no_std]`; nothing here allocates during inference.
//!
//! ```
//! use skipnet_runtime::{ops::add, Arena};
//!
//! let mut arena = Arena::<8>::new();
//! arena.get_mut::<0, 4>().copy_from_slice(&[1.0, 2.0, 3.0, 4.0]);
//! {
//!     // The output region [4, 8) and the operand region [0, 4) are proven disjoint
//!     // at compile time; the borrow checker is satisfied without copying.
//!     let (read, out) = arena.split::<4, 4>();
//!     let a = read.get::<0, 4>();
//!     add::add(&[a, a], out);
//! }
//! assert_eq!(arena.get::<4, 4>(), &[2.0, 4.0, 6.0, 8.0]);
//! ```
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

mod activation;
mod arena;
pub mod compare;
pub mod exec;
mod geom;
pub mod igemm;
mod isa;
pub mod ops;
mod param;
#[cfg(feature = "profile")]
pub mod profile;
pub mod qgemm;
pub mod quant;
#[doc(hidden)]
pub mod rng;
#[cfg(any(feature = "std", test))]
#[doc(hidden)]
pub mod testing;
pub use igemm::winograd;

#[cfg(feature = "alloc")]
mod error;
#[cfg(feature = "std")]
mod load;

pub use activation::Activation;
#[cfg(target_has_atomic = "8")]
pub use arena::StaticWorkspace;
pub use arena::{Arena, ArenaRead, CacheLine, Element, Workspace};
pub use exec::Exec;
pub use param::{f32s_from_le_bytes, i32s_from_le_bytes, i8s_from_bytes, Aligned, Param};

#[cfg(feature = "alloc")]
pub use error::Error;
#[cfg(feature = "std")]
pub use load::WeightFile;
