//! Stage 1: tokens to syntax tree. Pure syntax: no name resolution, no op
//! knowledge. A syntax error stops here (syn reports the first one with a span).

use crate::diag::{error, Loc};
use crate::limits::{MAX_IDENT_LEN, MAX_NESTING};
use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{bracketed, parenthesized, Attribute, Ident, LitBool, LitInt, Token, Visibility};

/// Everything inside one `network! { ... }`.
pub struct Source {
    pub blocks: Vec<BlockDef>,
    pub networks: Vec<NetworkDef>,
}

/// `block name(p1, p2) { stmts; return expr; }`
pub struct BlockDef {
    pub name: Ident,
    pub params: Vec<Ident>,
    pub body: Vec<Stmt>,
    pub ret: Expr,
}

/// `pub Name(x: [H, W, C], ...) -> out { stmts }`
pub struct NetworkDef {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub inputs: Vec<InputDecl>,
    pub outputs: Vec<Ident>,
    pub body: Vec<Stmt>,
}

pub struct InputDecl {
    pub name: Ident,
    pub shape: ShapeLit,
}

/// `[32, 32, 3]`
#[derive(Clone)]
pub struct ShapeLit {
    pub dims: Vec<IntLit>,
    pub loc: Loc,
}

/// `name (: shape)? = expr;`
pub struct Stmt {
    pub name: Ident,
    pub ascription: Option<ShapeLit>,
    pub expr: Expr,
}

#[derive(Clone)]
pub enum Expr {
    /// A tensor name, block parameter or keyword value (`same`, `relu`).
    Name(Ident),
    Call(Call),
    Int(IntLit),
    /// A number with a decimal point or exponent (`0.3`, `1e-3`), for
    /// arguments such as `alpha` and `epsilon`.
    Float(FloatLit),
    Bool(LitBool),
    /// `(a, b)`
    Tuple(Vec<Expr>, Loc),
}

#[derive(Clone, Copy)]
pub struct FloatLit {
    pub value: f64,
    pub loc: Loc,
}

#[derive(Clone)]
pub struct Call {
    pub func: Ident,
    pub args: Vec<Arg>,
    /// From the function name to the closing parenthesis.
    pub loc: Loc,
}

#[derive(Clone)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Clone, Copy)]
pub struct IntLit {
    pub value: i128,
    pub loc: Loc,
}

impl Expr {
    pub fn loc(&self) -> Loc {
        match self {
            Expr::Name(i) => Loc::at(i.span()),
            Expr::Call(c) => c.loc,
            Expr::Int(i) => i.loc,
            Expr::Float(f) => f.loc,
            Expr::Bool(b) => Loc::at(b.span),
            Expr::Tuple(_, s) => *s,
        }
    }
}

/// Rejects input nested deeper than [`MAX_NESTING`] or with an identifier
/// longer than [`MAX_IDENT_LEN`], before anything recursive (syn's token buffer
/// and attribute parser included) walks it. Iterative, so it cannot overflow
/// the stack itself.
pub fn check_limits(input: &TokenStream) -> syn::Result<()> {
    let mut stack = vec![input.clone().into_iter()];
    while let Some(top) = stack.last_mut() {
        match top.next() {
            Some(TokenTree::Group(g)) => {
                if stack.len() > MAX_NESTING {
                    return Err(error(
                        Loc {
                            start: g.span_open(),
                            end: g.span_close(),
                        },
                        format!(
                            "nesting deeper than {MAX_NESTING} levels of calls, tuples or brackets; bind inner calls to names instead: `a = relu(x); b = relu(a);`"
                        ),
                    ));
                }
                stack.push(g.stream().into_iter());
            }
            Some(TokenTree::Ident(id)) => {
                let len = id.to_string().len();
                if len > MAX_IDENT_LEN {
                    return Err(error(
                        id.span(),
                        format!(
                            "this name is {len} bytes long; skipnet accepts names of at most {MAX_IDENT_LEN} bytes"
                        ),
                    ));
                }
            }
            Some(_) => {}
            None => {
                stack.pop();
            }
        }
    }
    Ok(())
}

impl Parse for Source {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut blocks = Vec::new();
        let mut networks = Vec::new();
        while !input.is_empty() {
            let attrs = input.call(Attribute::parse_outer)?;
            if input.peek(Ident) && input.peek2(Ident) && input.fork().parse::<Ident>()? == "block"
            {
                input.parse::<Ident>()?;
                if let Some(a) = attrs.iter().find(|a| !a.path().is_ident("doc")) {
                    return Err(error(
                        a.pound_token.span,
                        "only doc comments are accepted on a block",
                    ));
                }
                blocks.push(parse_block(input)?);
            } else {
                networks.push(parse_network(input, attrs)?);
            }
        }
        for (i, n) in networks.iter().enumerate() {
            if networks[..i].iter().any(|m: &NetworkDef| m.name == n.name) {
                return Err(error(
                    n.name.span(),
                    format!("network `{}` is declared twice in this `network!`", n.name),
                ));
            }
        }
        if networks.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                "`network!` needs a network declaration: `pub Name(x: [H, W, C]) -> out { ... }`",
            ));
        }
        Ok(Source { blocks, networks })
    }
}

fn parse_block(input: ParseStream) -> syn::Result<BlockDef> {
    let name: Ident = input.parse()?;
    let content;
    parenthesized!(content in input);
    let params: Vec<Ident> = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?
        .into_iter()
        .collect();
    for (i, p) in params.iter().enumerate() {
        if params[..i].contains(p) {
            return Err(error(
                p.span(),
                format!("block `{name}` has two parameters named `{p}`"),
            ));
        }
    }
    let body_tokens;
    syn::braced!(body_tokens in input);
    let mut body = Vec::new();
    let ret = loop {
        if body_tokens.is_empty() {
            return Err(syn::Error::new(
                name.span(),
                format!("block `{name}` has no `return`: end it with `return <expr>;`"),
            ));
        }
        if body_tokens.peek(Token![return]) {
            body_tokens.parse::<Token![return]>()?;
            let e = parse_expr(&body_tokens)?;
            body_tokens.parse::<Token![;]>()?;
            if !body_tokens.is_empty() {
                return Err(body_tokens.error("`return` must be the last statement of a block"));
            }
            break e;
        }
        body.push(parse_stmt(&body_tokens)?);
    };
    Ok(BlockDef {
        name,
        params,
        body,
        ret,
    })
}

fn parse_network(input: ParseStream, attrs: Vec<Attribute>) -> syn::Result<NetworkDef> {
    let vis: Visibility = input.parse()?;
    if !input.peek(Ident) {
        return Err(input.error(
            "expected a network declaration: `pub Name(x: [H, W, C]) -> out { ... }` or a `block`",
        ));
    }
    let name: Ident = input.parse()?;
    let content;
    parenthesized!(content in input);
    let mut inputs = Vec::new();
    while !content.is_empty() {
        let iname: Ident = content.parse()?;
        if inputs.iter().any(|i: &InputDecl| i.name == iname) {
            return Err(error(
                iname.span(),
                format!("network `{name}` has two inputs named `{iname}`"),
            ));
        }
        content.parse::<Token![:]>()?;
        let shape = parse_shape(&content)?;
        inputs.push(InputDecl { name: iname, shape });
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    if inputs.is_empty() {
        return Err(syn::Error::new(
            name.span(),
            format!("network `{name}` has no input: declare one as `{name}(x: [H, W, C])`"),
        ));
    }
    input.parse::<Token![->]>()?;
    let outputs = if input.peek(syn::token::Paren) {
        let content;
        let paren = parenthesized!(content in input);
        let outs: Vec<Ident> = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?
            .into_iter()
            .collect();
        if outs.is_empty() {
            return Err(error(
                paren.span.open(),
                "a network needs at least one output",
            ));
        }
        outs
    } else {
        vec![input.parse::<Ident>()?]
    };
    let body_tokens;
    syn::braced!(body_tokens in input);
    let mut body = Vec::new();
    while !body_tokens.is_empty() {
        if body_tokens.peek(Token![return]) {
            return Err(body_tokens
                .error("a network names its outputs in its header (`-> out`), not with `return`"));
        }
        body.push(parse_stmt(&body_tokens)?);
    }
    Ok(NetworkDef {
        attrs,
        vis,
        name,
        inputs,
        outputs,
        body,
    })
}

fn parse_shape(input: ParseStream) -> syn::Result<ShapeLit> {
    let content;
    let bracket = bracketed!(content in input);
    let mut dims = Vec::new();
    while !content.is_empty() {
        if content.peek(Ident) {
            let id: Ident = content.parse()?;
            let msg = if id == "None" {
                "drop the batch dimension: skipnet shapes are `[H, W, C]` or `[N]` for one sample"
                    .to_string()
            } else {
                format!("shape dimensions must be integer literals, found `{id}`")
            };
            return Err(error(id.span(), msg));
        }
        let l: LitInt = content.parse()?;
        dims.push(int_lit(&l, false)?);
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(ShapeLit {
        dims,
        loc: Loc {
            start: bracket.span.open(),
            end: bracket.span.close(),
        },
    })
}

fn float_lit(l: &syn::LitFloat) -> syn::Result<FloatLit> {
    if !l.suffix().is_empty() && l.suffix() != "f32" && l.suffix() != "f64" {
        return Err(error(
            l.span(),
            format!("`{l}`: write a plain number such as `0.3`"),
        ));
    }
    let value: f64 = l.base10_parse()?;
    if !value.is_finite() {
        return Err(error(l.span(), format!("`{l}` is not a finite number")));
    }
    Ok(FloatLit {
        value,
        loc: Loc::at(l.span()),
    })
}

fn int_lit(l: &LitInt, negative: bool) -> syn::Result<IntLit> {
    let v: i128 = l.base10_parse().map_err(|_| {
        syn::Error::new(l.span(), format!("`{l}` is not an integer skipnet can use"))
    })?;
    // A literal token can itself be negative (`Literal::i128_unsuffixed`), so
    // `-` before `i128::MIN` must not overflow.
    let value = if negative { v.checked_neg() } else { Some(v) };
    let Some(value) = value else {
        return Err(error(
            l.span(),
            format!("`- {l}` is not an integer skipnet can use"),
        ));
    };
    Ok(IntLit {
        value,
        loc: Loc::at(l.span()),
    })
}

fn parse_stmt(input: ParseStream) -> syn::Result<Stmt> {
    if input.peek(Token![return]) {
        return Err(input.error("`return` is only allowed at the end of a block"));
    }
    let name: Ident = input.parse()?;
    let ascription = if input.peek(Token![:]) {
        input.parse::<Token![:]>()?;
        Some(parse_shape(input)?)
    } else {
        None
    };
    input.parse::<Token![=]>()?;
    let expr = parse_expr(input)?;
    input.parse::<Token![;]>()?;
    Ok(Stmt {
        name,
        ascription,
        expr,
    })
}

fn parse_expr(input: ParseStream) -> syn::Result<Expr> {
    if input.peek(Token![-]) && input.peek2(syn::LitFloat) {
        let minus = input.parse::<Token![-]>()?;
        let lit: syn::LitFloat = input.parse()?;
        let mut f = float_lit(&lit)?;
        f.value = -f.value;
        f.loc = Loc {
            start: minus.span,
            end: lit.span(),
        };
        return Ok(Expr::Float(f));
    }
    if input.peek(Token![-]) {
        let minus = input.parse::<Token![-]>()?;
        let lit: LitInt = input.parse()?;
        let mut v = int_lit(&lit, true)?;
        v.loc = Loc {
            start: minus.span,
            end: lit.span(),
        };
        return Ok(Expr::Int(v));
    }
    if input.peek(LitInt) {
        let lit: LitInt = input.parse()?;
        return Ok(Expr::Int(int_lit(&lit, false)?));
    }
    if input.peek(LitBool) {
        return Ok(Expr::Bool(input.parse()?));
    }
    if input.peek(syn::token::Paren) {
        let content;
        let paren = parenthesized!(content in input);
        let items = Punctuated::<Expr, Token![,]>::parse_terminated_with(&content, parse_expr)?
            .into_iter()
            .collect();
        return Ok(Expr::Tuple(
            items,
            Loc {
                start: paren.span.open(),
                end: paren.span.close(),
            },
        ));
    }
    if input.peek(Ident::peek_any) {
        let func = Ident::parse_any(input)?;
        if !input.peek(syn::token::Paren) {
            return Ok(Expr::Name(func));
        }
        let content;
        let paren = parenthesized!(content in input);
        let mut args = Vec::new();
        while !content.is_empty() {
            let name = if content.peek(Ident::peek_any)
                && content.peek2(Token![=])
                && !content.peek2(Token![==])
            {
                let n = Ident::parse_any(&content)?;
                content.parse::<Token![=]>()?;
                Some(n)
            } else {
                None
            };
            let value = parse_expr(&content)?;
            args.push(Arg { name, value });
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
        let loc = Loc {
            start: func.span(),
            end: paren.span.close(),
        };
        return Ok(Expr::Call(Call { func, args, loc }));
    }
    if input.peek(syn::LitFloat) {
        let f: syn::LitFloat = input.parse()?;
        return Ok(Expr::Float(float_lit(&f)?));
    }
    if input.peek(syn::LitStr) {
        let s: syn::LitStr = input.parse()?;
        return Err(error(
            s.span(),
            format!(
                "write `{}` without quotes: keyword values are bare words",
                s.value()
            ),
        ));
    }
    Err(input.error(
        "expected a tensor name, an op call like `conv2d(x, 16, 3)`, an integer or `(h, w)`",
    ))
}

impl Parse for Expr {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        parse_expr(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(ts: proc_macro2::TokenStream) -> syn::Result<Source> {
        syn::parse2(ts)
    }

    #[test]
    fn parses_header_bindings_and_blocks() {
        let src = parse(quote! {
            block apes(x, filters) {
                a = conv2d(x, filters, 3, padding = same, activation = relu);
                return add(a, conv2d(x, filters, (1, 1)));
            }
            /// doc
            pub Net(x: [8, 8, 3], y: [4]) -> (a, b) {
                a: [8, 8, 3] = relu(x);
                b = concat(a, a, axis = -1);
            }
        })
        .unwrap();
        assert_eq!(src.blocks.len(), 1);
        assert_eq!(src.blocks[0].params.len(), 2);
        let net = &src.networks[0];
        assert_eq!(net.name, "Net");
        assert_eq!(net.inputs.len(), 2);
        assert_eq!(net.inputs[1].shape.dims[0].value, 4);
        assert_eq!(net.outputs.len(), 2);
        assert_eq!(net.body.len(), 2);
        assert!(net.body[0].ascription.is_some());
        let Expr::Call(c) = &net.body[1].expr else {
            panic!("call")
        };
        assert_eq!(c.args.len(), 3);
        assert_eq!(c.args[2].name.as_ref().unwrap(), "axis");
        assert!(matches!(
            c.args[2].value,
            Expr::Int(IntLit { value: -1, .. })
        ));
    }

    #[test]
    fn syntax_errors_are_errors() {
        assert!(parse(quote! { pub Net(x: [8, 8, 3]) -> out { a = ; } }).is_err());
        assert!(parse(quote! { pub Net(x: [8, 8, 3]) -> out { a = relu(x) } }).is_err());
        assert!(parse(quote! { block b(x) { a = relu(x); } pub N(x: [1]) -> x {} }).is_err());
        assert!(parse(quote! { pub Net() -> out { } }).is_err());
        assert!(parse(quote! {}).is_err());
    }
}
