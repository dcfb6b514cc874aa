//! What `network!` expands to: the network's source text, rebuilt with spliced values.

use reef_lang::{Diagnostics, Sources};

/// A network written inline with [`crate::network!`]. The macro already checked it when the
/// Rust program compiled; its source is rebuilt at run time with the spliced Rust values, so it
/// is exactly the network the equivalent `.net` file describes.
#[derive(Clone, Debug, PartialEq)]
pub struct InlineNetwork {
    /// The reef source, with spliced values written in.
    pub source: String,
}

impl InlineNetwork {
    /// Rebuilds the source from the text pieces between splices and the spliced values.
    pub fn from_parts(pieces: &[&str], splices: &[Splice]) -> Self {
        let mut source = String::new();
        for (index, piece) in pieces.iter().enumerate() {
            source.push_str(piece);
            if let Some(splice) = splices.get(index) {
                source.push_str(&splice.text);
            }
        }
        InlineNetwork { source }
    }

    /// Parses the source (with the prelude in scope).
    pub fn parse(&self) -> Result<(Sources, reef_lang::ast::File), (Sources, Diagnostics)> {
        let mut sources = Sources::with_prelude();
        let id = sources.add("<network! macro>", self.source.as_str());
        match reef_lang::parse(id, &self.source) {
            Ok(file) => Ok((sources, file)),
            Err(diagnostics) => Err((sources, diagnostics)),
        }
    }

    /// Compiles every network in it. Errors are rendered, because the values spliced in at run
    /// time can still make a network invalid (say, a size of 0).
    pub fn compile(&self) -> Result<Vec<reef_compiler::Compiled>, String> {
        let mut sources = Sources::with_prelude();
        let id = sources.add("<network! macro>", self.source.as_str());
        reef_compiler::compile_source(&sources, id).map_err(|diagnostics| sources.render(&diagnostics, false))
    }
}

/// A Rust value spliced into a network with `{expr}`: a size or a number.
#[derive(Clone, Debug, PartialEq)]
pub struct Splice {
    /// The value as reef source text.
    pub text: String,
}

macro_rules! splice_from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Splice {
            fn from(value: $t) -> Self {
                Splice { text: value.to_string() }
            }
        }
    )*};
}
splice_from_integer!(usize, u8, u16, u32, u64, i32, i64);

impl From<f64> for Splice {
    fn from(value: f64) -> Self {
        // `{:?}` prints the shortest text that reads back exactly, always with a `.` or exponent.
        let text = format!("{value:?}");
        Splice { text: if value < 0.0 { format!("({text})") } else { text } }
    }
}

impl From<f32> for Splice {
    fn from(value: f32) -> Self {
        Splice::from(f64::from(value))
    }
}

impl From<bool> for Splice {
    fn from(value: bool) -> Self {
        Splice { text: value.to_string() }
    }
}
