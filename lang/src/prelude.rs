//! The prelude: reef's standard models (Linear, Instant, Rate, LIF, LIFODE, ExpSyn) and
//! functions (relu, sigmoid, identity, step_pwl), written in reef and shipped in the binary.

use crate::ast::File;
use crate::span::SourceId;

/// The prelude's source text.
pub const PRELUDE_SOURCE: &str = include_str!("prelude.net");

/// The name diagnostics use for the prelude.
pub const PRELUDE_NAME: &str = "<prelude>";

/// The prelude's id in every [`crate::Sources`] made by [`crate::Sources::with_prelude`].
pub const PRELUDE_ID: SourceId = SourceId(0);

/// Parses the prelude. It is part of the compiler, so a failure here is a bug in reef, which the
/// test suite rules out; the error is still returned rather than panicking.
pub fn parse_prelude() -> Result<File, crate::Diagnostics> {
    crate::parse::parse(PRELUDE_ID, PRELUDE_SOURCE)
}
