//! Every limit the macro enforces, in one place: how much input it accepts
//! and how much it reports. Each bounds the work of some stage (recursion,
//! suggestions, error lists) or keeps generated sizes valid on every target.

/// Deepest nesting of `(...)`, `[...]` and `{...}` accepted. A declaration
/// needs a handful of levels; the limit keeps every recursive stage (syn's own
/// parsers included) far from the end of the stack and nested calls cheap.
pub const MAX_NESTING: usize = 64;

/// Longest identifier accepted, in bytes. Names become weight names, paths
/// (`b1.a.kernel`, up to 64 blocks deep) and `summary()` columns.
pub const MAX_IDENT_LEN: usize = 255;

/// Largest tensor accepted, in elements: its byte size must fit an `isize`
/// on 32-bit targets too.
pub const MAX_ELEMENTS: usize = (i32::MAX as usize) / 4;

/// Most errors one `Errors` keeps: a block with an error, instantiated
/// thousands of times by other blocks, would otherwise report it thousands of
/// times (each with its call chain).
pub const MAX_ERRORS: usize = 200;

/// Most candidates one suggestion looks at (callers pass the nearest last).
pub const MAX_CANDIDATES: usize = 1000;
