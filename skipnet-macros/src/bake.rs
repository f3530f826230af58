//! Stage 7 (with `#[weights]` only): weights baked in at compile time, from
//! `#[weights = "file.safetensors"]`. The file is read and checked by the same
//! loader `from_safetensors` uses (so the messages match and name the tensor),
//! and kernels are packed by the runtime's own packing code, so the baked
//! `static`s hold exactly what run-time loading would produce.

use crate::checked::Checked;
use crate::diag::error;
use crate::graph::ValueKind;
use crate::weights::{BnFold, Fold, Weight};
use proc_macro2::Span;
use syn::{Attribute, Expr, ExprLit, Lit, Meta};

/// The `#[weights = "..."]` of a declaration.
pub struct WeightsAttr {
    /// As written.
    pub path: String,
    /// Resolved against `CARGO_MANIFEST_DIR`.
    pub resolved: std::path::PathBuf,
    pub span: Span,
}

/// Finds and validates `#[weights = "..."]` among a network's attributes.
pub fn attr(attrs: &[Attribute]) -> syn::Result<Option<WeightsAttr>> {
    let mut found: Option<WeightsAttr> = None;
    for a in attrs.iter().filter(|a| a.path().is_ident("weights")) {
        let lit = match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        };
        let Some(lit) = lit else {
            return Err(error(
                a.pound_token.span,
                "write the weights file as `#[weights = \"path/to/file.safetensors\"]` (a string, relative to the crate's Cargo.toml)",
            ));
        };
        if found.is_some() {
            return Err(error(lit.span(), "`#[weights = ...]` is given twice"));
        }
        let path = lit.value();
        let rel = std::path::Path::new(&path);
        let resolved = if rel.is_absolute() {
            rel.to_path_buf()
        } else {
            match std::env::var_os("CARGO_MANIFEST_DIR") {
                Some(dir) => std::path::Path::new(&dir).join(rel),
                None => rel.to_path_buf(),
            }
        };
        found = Some(WeightsAttr {
            path,
            resolved,
            span: lit.span(),
        });
    }
    Ok(found)
}

/// The bytes of the `#[weights]` file, or a compile error at the attribute.
pub fn read(attr: &WeightsAttr) -> syn::Result<Vec<u8>> {
    std::fs::read(&attr.resolved).map_err(|e| {
        error(
            attr.span,
            format!(
                "cannot read the weights file `{}`: {e} (a relative path starts at the directory of the crate's Cargo.toml)",
                attr.path,
            ),
        )
    })
}

/// The loader's error as a compile error at the attribute.
pub fn file_error(attr: &WeightsAttr, e: skipnet_runtime::Error) -> syn::Error {
    error(attr.span, format!("weights file `{}`: {e}", attr.path))
}

/// The stored values of every weight, in `weights` order.
pub fn load(
    attr: &WeightsAttr,
    c: &Checked,
    weights: &[(usize, Vec<Weight>)],
) -> syn::Result<Vec<Vec<f32>>> {
    let Checked {
        graph: g,
        shapes,
        fusions,
        ..
    } = c;
    let bytes = read(attr)?;
    let in_file = |e| file_error(attr, e);
    let mut file = skipnet_runtime::WeightFile::parse(&bytes).map_err(in_file)?;
    // First every tensor of the file, by name (folds read batch norm weights).
    let mut raw: std::collections::BTreeMap<&str, Vec<f32>> = std::collections::BTreeMap::new();
    for (_, ws) in weights {
        for w in ws {
            if !matches!(w.fold, Fold::Bias(..)) {
                raw.insert(
                    &w.name,
                    file.take_values(&w.name, &w.shape).map_err(in_file)?,
                );
            }
        }
    }
    file.finish().map_err(in_file)?;
    let get = |name: &str| raw.get(name).map(|v| v.as_slice()).unwrap_or(&[]);
    // A layer scale's is its `gamma`.
    let scale_of = |bn: &BnFold| {
        let Some(norm) = &bn.norm else {
            return get(&bn.gamma.1).to_vec();
        };
        let mut scale = vec![0.0f32; get(&bn.gamma.1).len()];
        skipnet_runtime::ops::batch_norm::fold_scale(
            get(&bn.gamma.1),
            get(&norm.variance.1),
            norm.epsilon,
            &mut scale,
        );
        scale
    };
    let mut out = Vec::new();
    for (id, ws) in weights {
        let ValueKind::Node(n) = &g.values[*id].kind else {
            continue;
        };
        let (in_shapes, up) = fusions.stored_operands(n, shapes);
        for w in ws {
            let mut values = match &w.fold {
                Fold::Bias(bn, conv_bias) => {
                    let scale = scale_of(bn);
                    let mut b = vec![0.0f32; w.len];
                    // A layer scale shifts nothing: beta and mean 0.
                    let zeros = match bn.norm {
                        Some(_) => Vec::new(),
                        None => vec![0.0f32; w.len],
                    };
                    let (beta, mean) = match &bn.norm {
                        Some(n) => (get(&n.beta.1), get(&n.mean.1)),
                        None => (&zeros[..], &zeros[..]),
                    };
                    skipnet_runtime::ops::batch_norm::fold_bias(
                        conv_bias.as_ref().map(|(_, name)| get(name)),
                        beta,
                        mean,
                        &scale,
                        &mut b,
                    );
                    out.push(b);
                    continue;
                }
                _ => get(&w.name).to_vec(),
            };
            if let Fold::Kernel(bn) = &w.fold {
                skipnet_runtime::ops::batch_norm::scale_filters(&mut values, &scale_of(bn));
            }
            let stored = match n.op.pack_now(w.var, &values, &in_shapes, &shapes[*id], up) {
                Some(p) => p,
                None => values,
            };
            out.push(stored);
        }
    }
    Ok(out)
}

/// Little-endian bytes of `values`, for one byte-string literal.
pub fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn errors(ts: proc_macro2::TokenStream) -> Vec<String> {
        match crate::expand(ts) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    // Unit tests run with CARGO_MANIFEST_DIR = skipnet-macros/, as a user
    // crate's build would with its own directory.
    #[test]
    fn a_file_that_does_not_match_is_a_compile_error_naming_the_tensor() {
        let e = errors(quote! {
            #[weights = "../tests/fixtures/seed_unet/weights.safetensors"]
            pub Net(x: [32, 32, 3]) -> out {
                conv1 = conv2d(x, 16, 3, strides = 2, padding = same, activation = relu);
                out   = conv2d(conv1, 4, 1);
            }
        });
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("weights file `../tests/fixtures/seed_unet/weights.safetensors`"),
            "{e:?}"
        );
        assert!(e[0].contains("conv1.kernel"), "{e:?}");
        assert!(
            e[0].contains("[3, 3, 3, 16]") && e[0].contains("[3, 3, 3, 32]"),
            "{e:?}"
        );

        let e = errors(quote! {
            #[weights = "../tests/fixtures/seed_unet/weights.safetensors"]
            pub Net(x: [32, 32, 3]) -> conv1 {
                conv1 = conv2d(x, 32, 3, strides = 2, padding = same, activation = relu);
            }
        });
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("conv2.bias"),
            "the first unused tensor is named: {e:?}"
        );

        let e = errors(quote! {
            #[weights = "../tests/fixtures/seed_unet/io.safetensors"]
            pub Net(x: [32, 32, 3]) -> conv1 {
                conv1 = conv2d(x, 32, 3, strides = 2, padding = same, activation = relu);
            }
        });
        assert!(e[0].contains("conv1.kernel"), "{e:?}");
    }

    #[test]
    fn a_matching_file_bakes_packed_statics() {
        let ts = crate::expand(quote! {
            #[weights = "../tests/fixtures/seed_unet/weights.safetensors"]
            pub Net(x: [32, 32, 3]) -> out {
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
                out    = conv2d(up4, 3, 3, padding = same);
            }
        })
        .unwrap()
        .to_string();
        assert!(ts.contains("pub const BAKED"), "BAKED constant");
        assert!(ts.contains("include_bytes"), "rebuild tracking");
        // 18 tensors (9 kernels + 9 biases) as 18 statics.
        assert!(ts.contains("BAKED_17") && !ts.contains("BAKED_18"));
    }
}
