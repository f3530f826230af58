//! Loading weights from safetensors bytes at run time.

use crate::quant::Quantization;
use crate::{Element, Error, Param};
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
    ///
    /// A malformed file is an [`Error::Format`] whose reason names the tensor
    /// at fault whenever one is (safetensors' own errors often do not), and
    /// duplicate tensor names are rejected (safetensors keeps the last).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        // Our own checks first: they name the tensor, and they keep offsets
        // past the end of the file from reaching an unchecked addition in
        // safetensors 0.4 (`buffer_end + 8 + n`, a panic in debug builds).
        header::check(bytes).map_err(|reason| Error::Format { reason })?;
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| Error::Format {
            reason: alloc::format!("{e:?}"),
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
        let raw: Vec<f32> = self.take_values(name, shape)?;
        let mut packed = alloc::vec![0.0f32; N].into_boxed_slice();
        pack(&raw, &mut packed);
        Param::from_boxed(packed).ok_or_else(|| Error::Format {
            reason: alloc::format!("packing `{name}` produced the wrong length"),
        })
    }

    /// Takes tensor `name`, which must be F32 with exactly `shape` (and `N` elements).
    pub fn take<const N: usize>(&mut self, name: &str, shape: &[usize]) -> Result<Param<N>, Error> {
        let values = self.take_values(name, shape)?;
        Param::from_boxed(values.into_boxed_slice()).ok_or_else(|| Error::ShapeMismatch {
            name: name.to_string(),
            expected: shape.to_vec(),
            found: alloc::vec![N],
        })
    }

    /// Takes tensor `name` (F32, exactly `shape`) as plain values: what the
    /// macro uses to bake weights at compile time.
    pub fn take_values(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, Error> {
        let data = self.take_bytes(name, shape, Dtype::F32)?;
        Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// Takes tensor `name`, which must be I8 with exactly `shape` (and `N`
    /// elements): a quantized network's kernel.
    pub fn take_i8<const N: usize>(
        &mut self,
        name: &str,
        shape: &[usize],
    ) -> Result<Param<N, i8>, Error> {
        let values = self.take_i8_values(name, shape)?;
        Self::param(name, shape, values)
    }

    /// Takes tensor `name` (I8, exactly `shape`) and stores it as `pack`
    /// lays it out in `N` words (the int8 kernel's packed form,
    /// [`crate::qgemm::pack_kernel`]).
    pub fn take_i8_packed<const N: usize>(
        &mut self,
        name: &str,
        shape: &[usize],
        pack: impl FnOnce(&[i8], &mut [i32]),
    ) -> Result<Param<N, i32>, Error> {
        let raw = self.take_i8_values(name, shape)?;
        let mut packed = alloc::vec![0i32; N].into_boxed_slice();
        pack(&raw, &mut packed);
        Param::from_boxed(packed).ok_or_else(|| Error::Format {
            reason: alloc::format!("packing `{name}` produced the wrong length"),
        })
    }

    /// Takes tensor `name` (I8, exactly `shape`) as plain values.
    pub fn take_i8_values(&mut self, name: &str, shape: &[usize]) -> Result<Vec<i8>, Error> {
        let data = self.take_bytes(name, shape, Dtype::I8)?;
        Ok(data.iter().map(|&b| b as i8).collect())
    }

    /// Takes tensor `name`, which must be I32 with exactly `shape` (and `N`
    /// elements): a quantized network's bias.
    pub fn take_i32<const N: usize>(
        &mut self,
        name: &str,
        shape: &[usize],
    ) -> Result<Param<N, i32>, Error> {
        let values = self.take_i32_values(name, shape)?;
        Self::param(name, shape, values)
    }

    /// Takes tensor `name` (I32, exactly `shape`) as plain values.
    pub fn take_i32_values(&mut self, name: &str, shape: &[usize]) -> Result<Vec<i32>, Error> {
        let data = self.take_bytes(name, shape, Dtype::I32)?;
        Ok(data
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// Takes tensor `name`, F32 of shape `[2]`: a quantized tensor's scale
    /// and zero point. A scale that is not positive and finite, or a zero
    /// point that is not an integer in `[-128, 127]`, is an
    /// [`Error::Quantization`] naming the tensor.
    pub fn take_quantization(&mut self, name: &str) -> Result<Quantization, Error> {
        let v = self.take_values(name, &[2])?;
        Quantization::new(v[0], v[1]).ok_or_else(|| Error::Quantization {
            reason: alloc::format!(
                "`{name}` has scale {} (must be positive and finite) and zero point {} (must be an integer in [-128, 127])",
                v[0],
                v[1]
            ),
        })
    }

    fn param<const N: usize, T: Element>(
        name: &str,
        shape: &[usize],
        values: Vec<T>,
    ) -> Result<Param<N, T>, Error> {
        Param::from_boxed(values.into_boxed_slice()).ok_or_else(|| Error::ShapeMismatch {
            name: name.to_string(),
            expected: shape.to_vec(),
            found: alloc::vec![N],
        })
    }

    /// The bytes of tensor `name`, checked to be `dtype` with exactly
    /// `shape`, and marked as taken.
    fn take_bytes(&mut self, name: &str, shape: &[usize], dtype: Dtype) -> Result<&'a [u8], Error> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|_| Error::MissingTensor {
                name: name.to_string(),
                expected: shape.to_vec(),
            })?;
        if view.dtype() != dtype {
            return Err(Error::WrongDtype {
                name: name.to_string(),
                dtype: alloc::format!("{:?}", view.dtype()),
                expected: match dtype {
                    Dtype::I8 => "I8",
                    Dtype::I32 => "I32",
                    _ => "F32",
                },
            });
        }
        if view.shape() != shape {
            return Err(Error::ShapeMismatch {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        self.taken.insert(name.to_string());
        Ok(view.data())
    }

    /// Checks that every F32 tensor of the file holds only finite values; the
    /// first NaN or infinity (tensors in name order) is an [`Error::NonFinite`]
    /// naming the tensor and the element. Optional: loading never calls it
    /// (a NaN weight is legal, if rarely intended).
    ///
    /// ```
    /// use skipnet_runtime::{Error, WeightFile};
    ///
    /// let data: Vec<u8> = [1.0f32, f32::NAN].iter().flat_map(|v| v.to_le_bytes()).collect();
    /// let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1, 2], &data).unwrap();
    /// let bytes = safetensors::serialize([("fc.bias", view)], &None).unwrap();
    /// let err = WeightFile::parse(&bytes).unwrap().validate().unwrap_err();
    /// assert_eq!(err.to_string(), "tensor `fc.bias` holds NaN at [0, 1] in the weight file");
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        let mut names: Vec<&String> = self.tensors.names();
        names.sort_unstable();
        for name in names {
            let Ok(view) = self.tensors.tensor(name) else {
                continue;
            };
            if view.dtype() != Dtype::F32 {
                continue;
            }
            let bad = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .enumerate()
                .find(|(_, v)| !v.is_finite());
            if let Some((flat, v)) = bad {
                // The flat index as a multi-dimensional one, row-major.
                let mut index = alloc::vec![0usize; view.shape().len()];
                let mut rest = flat;
                for (slot, &d) in index.iter_mut().zip(view.shape()).rev() {
                    if d > 0 {
                        *slot = rest % d;
                        rest /= d;
                    }
                }
                let value = if v.is_nan() {
                    "NaN"
                } else if v > 0.0 {
                    "+inf"
                } else {
                    "-inf"
                };
                return Err(Error::NonFinite {
                    name: name.to_string(),
                    index,
                    value: value.to_string(),
                });
            }
        }
        Ok(())
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

/// The safetensors header, read by a small JSON parser of our own so that
/// every problem can be reported with the tensor it concerns.
mod header {
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;

    /// safetensors' limit on the header size.
    const MAX_HEADER: u64 = 100_000_000;
    /// serde_json's limit on nested arrays and objects (deeper is invalid
    /// for both).
    const MAX_DEPTH: usize = 128;

    enum Json {
        Null,
        Bool,
        /// The number as written.
        Num(String),
        Str(String),
        Arr(Vec<Json>),
        Obj(Vec<(String, Json)>),
    }

    impl Json {
        fn kind(&self) -> &'static str {
            match self {
                Json::Null => "null",
                Json::Bool => "a boolean",
                Json::Num(_) => "a number",
                Json::Str(_) => "a string",
                Json::Arr(_) => "an array",
                Json::Obj(_) => "an object",
            }
        }

        /// A non-negative integer that fits a `usize`.
        fn size(&self) -> Option<usize> {
            match self {
                Json::Num(n) if n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
                _ => None,
            }
        }
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }

        fn eat(&mut self, c: u8) -> bool {
            if self.peek() == Some(c) {
                self.i += 1;
                true
            } else {
                false
            }
        }

        /// A value inside `depth` arrays and objects.
        fn value(&mut self, depth: usize) -> Option<Json> {
            self.ws();
            let c = self.peek()?;
            if matches!(c, b'{' | b'[') && depth >= MAX_DEPTH {
                return None;
            }
            match c {
                b'{' => {
                    self.i += 1;
                    let mut items = Vec::new();
                    self.ws();
                    if self.eat(b'}') {
                        return Some(Json::Obj(items));
                    }
                    loop {
                        self.ws();
                        let k = self.string()?;
                        self.ws();
                        if !self.eat(b':') {
                            return None;
                        }
                        let v = self.value(depth + 1)?;
                        items.push((k, v));
                        self.ws();
                        if self.eat(b'}') {
                            return Some(Json::Obj(items));
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                b'[' => {
                    self.i += 1;
                    let mut items = Vec::new();
                    self.ws();
                    if self.eat(b']') {
                        return Some(Json::Arr(items));
                    }
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        if self.eat(b']') {
                            return Some(Json::Arr(items));
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                b'"' => self.string().map(Json::Str),
                b't' => self.word(b"true", Json::Bool),
                b'f' => self.word(b"false", Json::Bool),
                b'n' => self.word(b"null", Json::Null),
                b'-' | b'0'..=b'9' => self.number(),
                _ => None,
            }
        }

        fn word(&mut self, w: &[u8], v: Json) -> Option<Json> {
            if self.s.get(self.i..self.i + w.len())? == w {
                self.i += w.len();
                Some(v)
            } else {
                None
            }
        }

        fn digits(&mut self) -> usize {
            let start = self.i;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            self.i - start
        }

        /// JSON's number grammar; the text is kept.
        fn number(&mut self) -> Option<Json> {
            let start = self.i;
            self.eat(b'-');
            let first = self.peek();
            let n = self.digits();
            if n == 0 || (n > 1 && first == Some(b'0')) {
                return None;
            }
            if self.eat(b'.') && self.digits() == 0 {
                return None;
            }
            if self.eat(b'e') || self.eat(b'E') {
                if !self.eat(b'+') {
                    self.eat(b'-');
                }
                if self.digits() == 0 {
                    return None;
                }
            }
            let text = core::str::from_utf8(self.s.get(start..self.i)?).ok()?;
            Some(Json::Num(String::from(text)))
        }

        fn hex4(&mut self) -> Option<u32> {
            let h = core::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
            let v = u32::from_str_radix(h, 16).ok()?;
            if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            self.i += 4;
            Some(v)
        }

        fn string(&mut self) -> Option<String> {
            if !self.eat(b'"') {
                return None;
            }
            let mut out: Vec<u8> = Vec::new();
            loop {
                let c = self.peek()?;
                self.i += 1;
                match c {
                    b'"' => return String::from_utf8(out).ok(),
                    b'\\' => {
                        let e = self.peek()?;
                        self.i += 1;
                        let ch = match e {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hi = self.hex4()?;
                                let cp = if (0xD800..0xDC00).contains(&hi) {
                                    if !(self.eat(b'\\') && self.eat(b'u')) {
                                        return None;
                                    }
                                    let lo = self.hex4()?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return None;
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    hi
                                };
                                char::from_u32(cp)?
                            }
                            _ => return None,
                        };
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    0..=0x1F => return None,
                    _ => out.push(c),
                }
            }
        }
    }

    /// Bytes per element of a safetensors dtype.
    fn dtype_size(d: &str) -> Option<usize> {
        Some(match d {
            "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
            "I16" | "U16" | "F16" | "BF16" => 2,
            "I32" | "U32" | "F32" => 4,
            "I64" | "U64" | "F64" => 8,
            _ => return None,
        })
    }

    fn shape_str(s: &[usize]) -> String {
        let parts: Vec<String> = s.iter().map(|d| format!("{d}")).collect();
        format!("[{}]", parts.join(", "))
    }

    /// One tensor entry of the header, checked on its own.
    struct Entry {
        name: String,
        start: usize,
        end: usize,
    }

    fn entry(name: &str, v: &Json) -> Result<Entry, String> {
        let at = |what: &str| format!("tensor `{name}` in the header: {what}");
        let Json::Obj(fields) = v else {
            return Err(at(&format!(
                "expected an object with `dtype`, `shape` and `data_offsets`, found {}",
                v.kind()
            )));
        };
        let field = |k: &str| -> Result<&Json, String> {
            let mut found = fields.iter().filter(|(f, _)| f == k);
            match (found.next(), found.next()) {
                (Some((_, v)), None) => Ok(v),
                (None, _) => Err(at(&format!("`{k}` is missing"))),
                (Some(_), Some(_)) => Err(at(&format!("`{k}` is given twice"))),
            }
        };
        let dtype = match field("dtype")? {
            Json::Str(d) => d.as_str(),
            other => {
                return Err(at(&format!(
                    "`dtype` must be a string, found {}",
                    other.kind()
                )))
            }
        };
        let Some(size) = dtype_size(dtype) else {
            return Err(at(&format!("unknown dtype `{dtype}`")));
        };
        let ints = |k: &str| -> Result<Vec<usize>, String> {
            match field(k)? {
                Json::Arr(items) => items
                    .iter()
                    .map(|i| i.size())
                    .collect::<Option<Vec<usize>>>()
                    .ok_or_else(|| {
                        at(&format!(
                            "`{k}` must hold non-negative integers that fit in memory"
                        ))
                    }),
                other => Err(at(&format!(
                    "`{k}` must be an array, found {}",
                    other.kind()
                ))),
            }
        };
        let shape = ints("shape")?;
        let offsets = ints("data_offsets")?;
        let [start, end] = offsets[..] else {
            return Err(at(&format!(
                "`data_offsets` must be [begin, end], found {} numbers",
                offsets.len()
            )));
        };
        let bytes = shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                at(&format!(
                    "{dtype} of shape {} is too large",
                    shape_str(&shape)
                ))
            })?;
        if end < start || end - start != bytes {
            return Err(at(&format!(
                "{dtype} of shape {} takes {bytes} bytes, but its data_offsets [{start}, {end}] do not span that",
                shape_str(&shape)
            )));
        }
        Ok(Entry {
            name: String::from(name),
            start,
            end,
        })
    }

    /// Everything safetensors checks, in its order, but each problem in words
    /// and naming the tensor it concerns; also duplicate names.
    pub fn check(bytes: &[u8]) -> Result<(), String> {
        let Some(len_bytes) = bytes.get(..8) else {
            return Err(format!(
                "the file is {} bytes long; it should start with an 8-byte header length",
                bytes.len()
            ));
        };
        let mut len = [0u8; 8];
        len.copy_from_slice(len_bytes);
        let n = u64::from_le_bytes(len);
        if n > MAX_HEADER {
            return Err(format!(
                "the header length is {n} bytes, more than safetensors' limit of {MAX_HEADER}"
            ));
        }
        // n <= MAX_HEADER, so this fits a usize on every target with `std`.
        let n = n as usize;
        let Some(header) = bytes.get(8..8 + n) else {
            return Err(format!(
                "the header length {n} points past the end of the file ({} bytes)",
                bytes.len()
            ));
        };
        let data_len = bytes.len() - 8 - n;
        let Ok(text) = core::str::from_utf8(header) else {
            return Err(String::from("the header is not UTF-8 text"));
        };
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let parsed = p.value(0);
        p.ws();
        let Some(Json::Obj(items)) = parsed.filter(|_| p.i == p.s.len()) else {
            return Err(String::from("the header is not a JSON object"));
        };
        // Duplicates first: safetensors would keep the last and judge only it.
        let mut names: Vec<&str> = items.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("tensor `{}` appears twice in the header", w[0]));
        }
        let mut entries = Vec::new();
        for (name, v) in &items {
            if name == "__metadata__" {
                let ok = match v {
                    Json::Null => true,
                    Json::Obj(kv) => kv.iter().all(|(_, v)| matches!(v, Json::Str(_))),
                    _ => false,
                };
                if !ok {
                    return Err(String::from(
                        "the header's `__metadata__` must map names to strings",
                    ));
                }
                continue;
            }
            let e = entry(name, v)?;
            if e.end > data_len {
                return Err(format!(
                    "tensor `{name}` has data_offsets [{}, {}], past the end of the file's {data_len} bytes of data",
                    e.start, e.end
                ));
            }
            entries.push(e);
        }
        // The data must be the tensors back to back, as safetensors requires.
        entries.sort_by_key(|e| (e.start, e.end));
        let mut at = 0usize;
        let mut prev: Option<&str> = None;
        for e in &entries {
            if e.start != at {
                let what = match prev {
                    Some(p) if e.start < at => format!("overlaps tensor `{p}`, which ends at {at}"),
                    Some(p) => format!("leaves a gap after tensor `{p}`, which ends at {at}"),
                    None => String::from("leaves a gap at the start of the data"),
                };
                return Err(format!(
                    "tensor `{}` has data_offsets [{}, {}], which {what}",
                    e.name, e.start, e.end
                ));
            }
            at = e.end;
            prev = Some(&e.name);
        }
        if at != data_len {
            return Err(format!(
                "the tensors' data ends at byte {at} but the file has {data_len} bytes of data"
            ));
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
