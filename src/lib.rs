//! # skipnet
//!
//! Declare a convolutional network with skip connections in a Keras-like language,
//! get every tensor shape checked at compile time, and run it with a `forward`
//! that never allocates.
//!
//! ```
//! use skipnet::network;
//!
//! network! {
//!     /// Two parallel paths merged by element-wise addition.
//!     block apes(x, filters) {
//!         a = conv2d(x, filters, 3, padding = same, activation = relu);
//!         b = conv2d(x, filters, 1, padding = same);
//!         return add(a, b);
//!     }
//!     pub ApesNet(x: [8, 8, 4]) -> out {
//!         b1  = apes(x, 4);
//!         p1  = max_pool2d(b1, 2);
//!         out = conv2d(p1, 2, 1);
//!     }
//! }
//!
//! assert_eq!(ApesNet::INPUT_SHAPE, [8, 8, 4]);
//! assert_eq!(ApesNet::OUTPUT_SHAPE, [4, 4, 2]);
//! assert!(ApesNet::summary().contains("b1.a (conv2d)"));
//! ```
//!
//! The language, the ops and the generated API are specified in `DSL.md`; the
//! crate's README walks through an example end to end.
//!
//! ## Features
//!
//! - `std` (default): `from_safetensors` and heap workspaces (`Net::workspace()`).
//! - `parallel`: `NetWorkspace::with_threads(n)`, a workspace that owns `n - 1`
//!   worker threads and splits every large convolution across them (results are
//!   bit-for-bit those of one thread; `forward` still never allocates).
//! - `ndarray`: `forward_array` on `ndarray` views.
#![no_std]

#[cfg(feature = "std")]
extern crate std;

pub use skipnet_macros::network;

/// Comparing outputs with a reference (NaN- and infinity-aware: a non-finite
/// difference is never "close").
pub use skipnet_runtime::compare;
/// Which convolution kernel this machine runs (`Isa::detect()`: AVX-512,
/// AVX2+FMA or the portable one; with `std` detected at run time, without it
/// from the compile-time target features).
pub use skipnet_runtime::igemm::Isa;

/// int8 quantization (`#[quantized]` networks): `Quantization` (a tensor's
/// scale and zero point, TFLite's QUANTIZE and DEQUANTIZE) and TFLite's
/// fixed-point requantization.
pub use skipnet_runtime::quant;

/// Per-layer timings of `forward` (`Name::profile()`), feature `profile`.
#[cfg(feature = "profile")]
pub use skipnet_runtime::profile;
#[cfg(feature = "std")]
pub use skipnet_runtime::Error;
/// A workspace in a `static`, handed out once (for `no_std` binaries).
#[cfg(target_has_atomic = "8")]
pub use skipnet_runtime::StaticWorkspace;
pub use skipnet_runtime::{Activation, Arena, Element, Param, Workspace};

#[cfg(feature = "ndarray")]
pub use ndarray;

/// Items the generated code refers to. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use skipnet_runtime::ops;
    pub use skipnet_runtime::qgemm;
    pub use skipnet_runtime::quant;
    pub use skipnet_runtime::winograd;
    pub use skipnet_runtime::{
        f32s_from_le_bytes, i32s_from_le_bytes, i8s_from_bytes, Activation, Aligned, Arena, Exec,
        Param, Workspace,
    };

    #[cfg(feature = "std")]
    pub use skipnet_runtime::WeightFile;
    #[cfg(feature = "std")]
    pub use std::boxed::Box;

    #[cfg(feature = "ndarray")]
    pub use ndarray;
    #[cfg(feature = "profile")]
    pub use skipnet_runtime::profile;
}

/// Expands its input when the `std` feature is on (run-time weight loading,
/// heap workspaces); expands to nothing otherwise.
#[cfg(feature = "std")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_std {
    ($($t:tt)*) => { $($t)* };
}
#[cfg(not(feature = "std"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_std {
    ($($t:tt)*) => {};
}

/// Expands its input when the `ndarray` feature is on.
#[cfg(feature = "ndarray")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_ndarray {
    ($($t:tt)*) => { $($t)* };
}
#[cfg(not(feature = "ndarray"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_ndarray {
    ($($t:tt)*) => {};
}
