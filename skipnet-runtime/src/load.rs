//! Loading weights from safetensors bytes at run time.

use crate::{Error, Param};
use alloc::collections::BTreeSet;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use safetensors::{Dtype, SafeTensors};

/// A parsed safetensors file from which a network takes its tensors by name.
///
/// ```
/// use skipnet_runtime::{Error, WeightFile};
///
/// // A file with one 2x2 tensor `fc.kernel`.
/// let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
/// let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 2], &data).unwrap();
/// let bytes = safetensors::serialize([("fc.kernel", view)], &None).unwrap();
///
/// let mut file = WeightFile::parse(&bytes)?;
/// let k = file.take::<4>("fc.kernel", &[2, 2])?;
/// assert_eq!(*k, [1.0, 2.0, 3.0, 4.0]);
/// file.finish()?;
/// # Ok::<(), Error>(())
/// ```
pub struct WeightFile<'a> {
    tensors: SafeTensors<'a>,
    taken: BTreeSet<String>,
}

impl<'a> WeightFile<'a> {
    /// Parses and validates the header (offsets, sizes, dtypes) of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| Error::Format {
            reason: e.to_string(),
        })?;
        Ok(WeightFile {
            tensors,
            taken: BTreeSet::new(),
        })
    }

    /// Takes tensor `name` (F32, exactly `shape`) and stores it as `pack` lays it
    /// out in `N` values (a kernel's packed form).
    pub fn take_packed<const N: usize>(
        &mut self,
        name: &str,
        shape: &[usize],
        pack: impl FnOnce(&[f32], &mut [f32]),
    ) -> Result<Param<N>, Error> {
        let raw: Vec<f32> = self.values(name, shape)?;
        let mut packed = alloc::vec![0.0f32; N].into_boxed_slice();
        pack(&raw, &mut packed);
        Param::from_boxed(packed).ok_or_else(|| Error::Format {
            reason: alloc::format!("packing `{name}` produced the wrong length"),
        })
    }

    /// Takes tensor `name`, which must be F32 with exactly `shape` (and `N` elements).
    pub fn take<const N: usize>(&mut self, name: &str, shape: &[usize]) -> Result<Param<N>, Error> {
        let values = self.values(name, shape)?;
        Param::from_boxed(values.into_boxed_slice()).ok_or_else(|| Error::ShapeMismatch {
            name: name.to_string(),
            expected: shape.to_vec(),
            found: alloc::vec![N],
        })
    }

    fn values(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, Error> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|_| Error::MissingTensor {
                name: name.to_string(),
                expected: shape.to_vec(),
            })?;
        if view.dtype() != Dtype::F32 {
            return Err(Error::WrongDtype {
                name: name.to_string(),
                dtype: alloc::format!("{:?}", view.dtype()),
            });
        }
        if view.shape() != shape {
            return Err(Error::ShapeMismatch {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        self.taken.insert(name.to_string());
        Ok(values)
    }

    /// Succeeds when every tensor of the file was taken; otherwise names the first
    /// (in sorted order) that was not.
    pub fn finish(self) -> Result<(), Error> {
        let mut names: Vec<&str> = self
            .tensors
            .names()
            .into_iter()
            .map(|s| s.as_str())
            .collect();
        names.sort_unstable();
        for name in names {
            if !self.taken.contains(name) {
                let shape = self
                    .tensors
                    .tensor(name)
                    .map(|v| v.shape().to_vec())
                    .unwrap_or_default();
                return Err(Error::UnexpectedTensor {
                    name: name.to_string(),
                    shape,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use safetensors::tensor::TensorView;

    fn file(entries: &[(&str, Dtype, Vec<usize>, usize)]) -> Vec<u8> {
        let data: Vec<Vec<u8>> = entries
            .iter()
            .map(|(_, _, _, bytes)| vec![0u8; *bytes])
            .collect();
        let views: Vec<(&str, TensorView<'_>)> = entries
            .iter()
            .zip(&data)
            .map(|((n, d, s, _), b)| (*n, TensorView::new(*d, s.clone(), b).expect("valid view")))
            .collect();
        safetensors::serialize(views, &None).expect("serializes")
    }

    #[test]
    fn missing_tensor_is_named_with_expected_shape() {
        let bytes = file(&[("a.kernel", Dtype::F32, vec![2], 8)]);
        let mut f = WeightFile::parse(&bytes).unwrap();
        let err = f.take::<3>("a.bias", &[3]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "weight file has no tensor `a.bias` (the network needs it with shape [3])"
        );
    }

    #[test]
    fn shape_mismatch_names_both_shapes() {
        let bytes = file(&[("a.kernel", Dtype::F32, vec![3, 3, 2, 4], 3 * 3 * 2 * 4 * 4)]);
        let mut f = WeightFile::parse(&bytes).unwrap();
        let err = f.take::<72>("a.kernel", &[3, 3, 4, 2]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tensor `a.kernel` has shape [3, 3, 2, 4] in the weight file but the network expects [3, 3, 4, 2]"
        );
    }

    #[test]
    fn wrong_dtype_and_extra_tensor() {
        let bytes = file(&[
            ("a.bias", Dtype::F16, vec![2], 4),
            ("zz.kernel", Dtype::F32, vec![1], 4),
        ]);
        let mut f = WeightFile::parse(&bytes).unwrap();
        let err = f.take::<2>("a.bias", &[2]).unwrap_err();
        assert!(
            matches!(err, Error::WrongDtype { ref dtype, .. } if dtype == "F16"),
            "{err}"
        );
        let err = f.finish().unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedTensor { ref name, .. } if name == "a.bias"),
            "{err}"
        );
    }

    #[test]
    fn truncated_file_is_a_format_error() {
        let bytes = file(&[("a.bias", Dtype::F32, vec![2], 8)]);
        for cut in [0, 4, 8, bytes.len() - 1] {
            let err = WeightFile::parse(&bytes[..cut])
                .err()
                .expect("truncated file rejected");
            assert!(matches!(err, Error::Format { .. }), "{err}");
        }
    }
}
