//! Source locations and error construction shared by every stage.
//!
//! `proc_macro::Span::join` is nightly-only, so a location is kept as its first
//! and last token's spans; `syn::Error::new_spanned` turns the pair back into a
//! range that underlines the whole construct on stable Rust.

use crate::limits::{MAX_CANDIDATES, MAX_ERRORS};
use proc_macro2::{Ident, Span, TokenStream};
use quote::ToTokens;

/// A source range from `start`'s token to `end`'s token.
#[derive(Clone, Copy, Debug)]
pub struct Loc {
    pub start: Span,
    pub end: Span,
}

impl Loc {
    pub fn at(span: Span) -> Loc {
        Loc {
            start: span,
            end: span,
        }
    }
}

impl From<Span> for Loc {
    fn from(s: Span) -> Loc {
        Loc::at(s)
    }
}

impl ToTokens for Loc {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        Ident::new("start", self.start).to_tokens(tokens);
        Ident::new("end", self.end).to_tokens(tokens);
    }
}

/// An error underlining `loc`.
pub fn error(loc: impl Into<Loc>, msg: impl std::fmt::Display) -> syn::Error {
    syn::Error::new_spanned(loc.into(), msg)
}

/// Folds errors into one `syn::Error` (rustc shows each with its own span).
#[derive(Default)]
pub struct Errors {
    all: Option<syn::Error>,
    kept: usize,
    /// Errors past `MAX_ERRORS`, counted, not kept.
    dropped: usize,
}

impl Errors {
    pub fn push(&mut self, e: syn::Error) {
        if self.is_full() {
            self.dropped += 1;
            return;
        }
        self.kept += 1;
        match &mut self.all {
            Some(all) => all.combine(e),
            None => self.all = Some(e),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_none()
    }

    /// Whether further errors are only counted (so callers may skip building them).
    pub fn is_full(&self) -> bool {
        self.kept >= MAX_ERRORS
    }

    /// Counts an error not built because `is_full`.
    pub fn count_dropped(&mut self) {
        self.dropped += 1;
    }

    /// `Err` with every error pushed, or `Ok(v)` if there were none.
    pub fn finish<T>(self, v: T) -> syn::Result<T> {
        match self.all {
            Some(mut e) => {
                if self.dropped > 0 {
                    e.combine(syn::Error::new(
                        Span::call_site(),
                        format!(
                            "{} more errors not shown (only the first {MAX_ERRORS} are)",
                            self.dropped
                        ),
                    ));
                }
                Err(e)
            }
            None => Ok(v),
        }
    }
}

/// Formats a shape the way users write it: `[16, 16, 32]`.
pub fn shape_str(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// Longest word (in characters) a suggestion is computed for.
const MAX_SUGGEST_LEN: usize = 128;

/// The closest candidate by edit distance, if it is close enough to be a typo.
/// Bounded work: at most `MAX_CANDIDATES` candidates, words of at most
/// `MAX_SUGGEST_LEN` characters, candidates whose length alone rules them out
/// skipped.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wlen = word.chars().count();
    if wlen > MAX_SUGGEST_LEN {
        return None;
    }
    let mut best: Option<(&str, usize)> = None;
    for c in candidates.into_iter().take(MAX_CANDIDATES) {
        let limit = word.len().max(c.len()) / 3 + 1;
        let clen = c.chars().count();
        // The distance is at least the difference in length.
        if clen > MAX_SUGGEST_LEN || clen.abs_diff(wlen) > limit {
            continue;
        }
        let d = edit_distance(word, c);
        if d <= limit && best.is_none_or(|(_, bd)| d < bd) {
            best = Some((c, d));
        }
    }
    best.map(|(c, _)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = Vec::with_capacity(b.len() + 1);
    for (i, ca) in a.chars().enumerate() {
        cur.clear();
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("stride", ["strides", "padding"]),
            Some("strides")
        );
        assert_eq!(did_you_mean("conv", ["conv2d", "add"]), Some("conv2d"));
        assert_eq!(did_you_mean("xyzzy", ["conv2d", "add"]), None);
        assert_eq!(shape_str(&[16, 16, 32]), "[16, 16, 32]");
    }
}

/// One block instantiation on the way to a node: which block, called where.
/// Cheap to clone: every node inside a block keeps its whole chain of frames.
#[derive(Clone, Debug)]
pub struct Frame {
    pub block: std::rc::Rc<str>,
    pub call: Loc,
}

/// Adds, for an error inside a block, one error at each call site that led
/// there, innermost first, so the user sees both the block line and the call.
pub fn in_context(e: syn::Error, frames: &[Frame]) -> syn::Error {
    let mut all = e;
    for f in frames {
        all.combine(error(
            f.call,
            format!(
                "in this use of block `{}` (the error above is inside it)",
                f.block
            ),
        ));
    }
    all
}
