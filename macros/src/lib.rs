//! `network!`: write a reef network inline in Rust. The body is parsed with `reef-lang` when
//! the Rust program compiles, and — when it has no `{expr}` splices — elaborated and lowered by
//! `reef-compiler` too, so a reef error (syntax, unknown model, size mismatch, …) is a Rust
//! compile error at the right span. It expands to `::reef::InlineNetwork::from_parts(...)`,
//! which rebuilds the same source text with the spliced values, so the network built at run
//! time is exactly the one the equivalent `.net` file describes.

use proc_macro::TokenStream;

mod text;

/// Builds an inline reef network; see the crate documentation.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    text::expand(input.into()).into()
}
