//! reef's language front end: source text → [`ast::File`], with located [`Diagnostic`]s.
//!
//! ```
//! use reef_lang::{Sources, parse};
//! let mut sources = Sources::with_prelude();
//! let id = sources.add("chirp.net", "network Chirp(dt = 1 ms) = Sequential(Linear(1, 50), Rate(50))");
//! let file = parse(id, sources.get(id).unwrap().text.as_str()).unwrap();
//! assert_eq!(file.items[0].name().as_str(), "Chirp");
//! ```

pub mod ast;
pub mod diag;
pub mod parse;
pub mod prelude;
pub mod print;
mod render;
pub mod span;

pub use diag::{Diagnostic, Diagnostics, Label, Severity, SourceFile, Sources};
pub use parse::{parse, parse_expr};
pub use print::{print_expr, print_file};
pub use span::{Ident, SourceId, Span, Spanned};

impl Sources {
    /// Sources holding the prelude as [`prelude::PRELUDE_ID`].
    pub fn with_prelude() -> Self {
        let mut sources = Sources::new();
        sources.add(prelude::PRELUDE_NAME, prelude::PRELUDE_SOURCE);
        sources
    }
}
