//! Errors of weight loading.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why weights could not be loaded. Every variant names the tensor at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a valid safetensors file.
    Format {
        /// What the parser reported.
        reason: String,
    },
    /// A quantized network's scales or zero points are invalid or
    /// inconsistent (what TFLite's int8 spec requires of them).
    Quantization {
        /// What is wrong, naming the tensor or layer.
        reason: String,
    },
    /// The network needs a tensor the file does not have.
    MissingTensor {
        /// Weight name, `<binding path>.<variable>`.
        name: String,
        /// Shape the network expects.
        expected: Vec<usize>,
    },
    /// The file's tensor has another shape than the network declares.
    ShapeMismatch {
        /// Weight name.
        name: String,
        /// Shape the network expects.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// The file's tensor has another dtype than the network needs.
    WrongDtype {
        /// Weight name.
        name: String,
        /// The dtype in the file (`F16`, `I64`, ...).
        dtype: String,
        /// The dtype the network needs: `F32`, or in a quantized network
        /// `I8` (kernels), `I32` (biases).
        expected: &'static str,
    },
    /// The file has a tensor the network does not use (a renamed or removed layer?).
    UnexpectedTensor {
        /// Name in the file.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A tensor holds NaN or an infinity (only from `WeightFile::validate`).
    NonFinite {
        /// Weight name.
        name: String,
        /// Where, as an index into the tensor's shape.
        index: Vec<usize>,
        /// `NaN`, `+inf` or `-inf`.
        value: String,
    },
}

struct Shape<'a>(&'a [usize]);

impl fmt::Display for Shape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Format { reason } => write!(f, "not a valid safetensors file: {reason}"),
            Error::Quantization { reason } => {
                write!(f, "bad int8 quantization in the weight file: {reason}")
            }
            Error::MissingTensor { name, expected } => write!(
                f,
                "weight file has no tensor `{name}` (the network needs it with shape {})",
                Shape(expected)
            ),
            Error::ShapeMismatch { name, expected, found } => write!(
                f,
                "tensor `{name}` has shape {} in the weight file but the network expects {}",
                Shape(found),
                Shape(expected)
            ),
            Error::WrongDtype {
                name,
                dtype,
                expected,
            } => match *expected {
                "F32" => write!(
                    f,
                    "tensor `{name}` is {dtype} in the weight file; skipnet needs F32 (export with .astype(np.float32))"
                ),
                _ => write!(
                    f,
                    "tensor `{name}` is {dtype} in the weight file; this quantized network needs {expected} (TFLite int8: I8 kernels, I32 biases, F32 scales)"
                ),
            },
            Error::NonFinite { name, index, value } => write!(
                f,
                "tensor `{name}` holds {value} at {} in the weight file",
                Shape(index)
            ),
            Error::UnexpectedTensor { name, shape } => write!(
                f,
                "weight file has tensor `{name}` (shape {}) that no layer of the network uses; check the layer names match the bindings",
                Shape(shape)
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
