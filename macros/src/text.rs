//! Tokens → reef source text with a span table, checks, and the expansion.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::quote;

/// The reef text rebuilt from Rust tokens.
struct Text {
    /// The text so far; splices appear as `__splice_N` while checking.
    source: String,
    /// The spliced Rust expressions.
    splices: Vec<TokenStream>,
    /// Byte range of each token in `source` and its Rust span.
    spans: Vec<(usize, usize, Span)>,
    /// Whether the next token should not be preceded by a space.
    glue: bool,
    /// The previous token, to tell a splice `{expr}` from a reef block.
    previous: Option<String>,
}

impl Text {
    fn push(&mut self, token: &str, span: Span, glue_after: bool) {
        let no_space = self.glue || token == "." || self.source.is_empty() || self.source.ends_with('\n');
        if !no_space {
            self.source.push(' ');
        }
        let start = self.source.len();
        self.source.push_str(token);
        self.spans.push((start, self.source.len(), span));
        self.glue = glue_after || token == ".";
        self.previous = Some(token.to_string());
    }

    fn tokens(&mut self, stream: TokenStream) {
        let mut iter = stream.into_iter().peekable();
        while let Some(tree) = iter.next() {
            match tree {
                TokenTree::Ident(ident) => self.push(&ident.to_string(), ident.span(), false),
                TokenTree::Literal(literal) => self.push(&literal.to_string(), literal.span(), false),
                TokenTree::Punct(punct) => {
                    // `/// doc` reaches a macro as `#[doc = "..."]`: turn it back into a doc line.
                    if punct.as_char() == '#'
                        && let Some(TokenTree::Group(group)) = iter.peek()
                        && group.delimiter() == Delimiter::Bracket
                        && let Some(doc) = doc_text(group.stream())
                    {
                        let span = group.span();
                        iter.next();
                        if !self.source.is_empty() && !self.source.ends_with('\n') {
                            self.source.push('\n');
                        }
                        let start = self.source.len();
                        self.source.push_str(&format!("///{doc}\n"));
                        self.spans.push((start, self.source.len(), span));
                        self.glue = false;
                        continue;
                    }
                    let joint = punct.spacing() == proc_macro2::Spacing::Joint;
                    self.push(&punct.as_char().to_string(), punct.span(), joint);
                }
                TokenTree::Group(group) => {
                    let is_splice = group.delimiter() == Delimiter::Brace
                        && self
                            .previous
                            .as_deref()
                            .is_some_and(|p| matches!(p, "(" | "," | "=" | "[" | "+" | "-" | "*" | "/" | "@" | ":"));
                    if is_splice {
                        let index = self.splices.len();
                        self.push(&format!("__splice_{index}"), group.span(), false);
                        self.splices.push(group.stream());
                        continue;
                    }
                    let (open, close) = match group.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::None => ("", ""),
                    };
                    self.push(open, group.span_open(), true);
                    self.tokens(group.stream());
                    self.glue = false;
                    self.push(close, group.span_close(), false);
                }
            }
        }
    }

    /// The Rust span of the token covering byte `offset` of the text.
    fn span_at(&self, offset: usize) -> Span {
        self.spans
            .iter()
            .find(|(start, end, _)| *start <= offset && offset < (*end).max(*start + 1))
            .or_else(|| self.spans.iter().rev().find(|(start, _, _)| *start <= offset))
            .map_or_else(Span::call_site, |(_, _, span)| *span)
    }
}

fn doc_text(stream: TokenStream) -> Option<String> {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    match tokens.as_slice() {
        [TokenTree::Ident(name), TokenTree::Punct(eq), TokenTree::Literal(literal)]
            if name == "doc" && eq.as_char() == '=' =>
        {
            let text = literal.to_string();
            let inner = text.strip_prefix('"')?.strip_suffix('"')?;
            Some(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
        }
        _ => None,
    }
}

/// Expands `network! { ... }`.
pub fn expand(input: TokenStream) -> TokenStream {
    let mut text = Text { source: String::new(), splices: Vec::new(), spans: Vec::new(), glue: false, previous: None };
    text.tokens(input);
    // For checking, a splice stands for the number 1 (only the syntax is checked then); a
    // one-character stand-in keeps the byte offsets of later tokens close for error spans.
    let mut checked = text.source.clone();
    for index in (0..text.splices.len()).rev() {
        checked = checked.replace(&format!("__splice_{index}"), "1");
    }
    let mut sources = reef_lang::Sources::with_prelude();
    let id = sources.add("<network! macro>", checked.as_str());
    let result = match reef_lang::parse(id, &checked) {
        Err(diagnostics) => Err(diagnostics),
        Ok(file) if text.splices.is_empty() => {
            reef_lang::prelude::parse_prelude().and_then(|prelude| reef_compiler::compile(&prelude, &file).map(|_| ()))
        }
        Ok(_) => Ok(()),
    };
    if let Err(diagnostics) = result {
        let mut errors: Option<syn::Error> = None;
        for diagnostic in &diagnostics.0 {
            let span = diagnostic
                .primary_span()
                .filter(|s| s.source == id)
                .map_or_else(Span::call_site, |s| text.span_at(s.start));
            let mut message = format!("{} [reef {}]", diagnostic.message, diagnostic.code);
            for label in diagnostic.labels.iter().filter(|l| l.primary && !l.message.is_empty()) {
                message.push_str(&format!(": {}", label.message));
            }
            if let Some(help) = &diagnostic.help {
                message.push_str(&format!("\nhelp: {help}"));
            }
            let error = syn::Error::new(span, message);
            match &mut errors {
                Some(all) => all.combine(error),
                None => errors = Some(error),
            }
        }
        if let Some(errors) = errors {
            return errors.to_compile_error();
        }
    }
    // Split the text at the splice placeholders.
    let mut pieces = Vec::new();
    let mut rest = text.source.as_str();
    for index in 0..text.splices.len() {
        let marker = format!("__splice_{index}");
        match rest.find(&marker) {
            Some(at) => {
                pieces.push(rest[..at].to_string());
                rest = &rest[at + marker.len()..];
            }
            None => break,
        }
    }
    pieces.push(rest.to_string());
    let splices = text.splices.iter().map(|expr| quote! { ::reef::Splice::from({ #expr }) });
    quote! {
        ::reef::InlineNetwork::from_parts(&[#(#pieces),*], &[#(#splices),*])
    }
}
