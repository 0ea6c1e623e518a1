//! Field-level validation errors, collected so a client sees every problem at once.

use serde::Serialize;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name as the client sent it (`email`, `title`).
    pub field: String,
    /// What is wrong, in words a client developer understands.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Collects field errors while parsing a request.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `Ok` values; records the error of an `Err` under `field`.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(FieldError::new(field, e.to_string()));
                None
            }
        }
    }

    /// Like [`Validator::check`] for an optional input.
    pub fn check_opt<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Option<Result<T, E>>,
    ) -> Option<Option<T>> {
        match result {
            None => Some(None),
            Some(r) => self.check(field, r).map(Some),
        }
    }

    /// `Ok(())` when no field failed, else every error.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// Whether `c` is an invisible formatting character: zero-width spaces and joiners, bidi
/// embeddings, overrides, isolates and marks, the soft hyphen and the byte-order mark. They
/// render as nothing (or reorder the text around them), so names and addresses that contain
/// them look like others that do not.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// Whether `c` is an invisible character that text needs: the zero-width joiner and
/// non-joiner (emoji sequences, Persian and Indic scripts), variation selectors (text or emoji
/// presentation) and tag characters (subdivision flags).
fn shapes_text(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0020}'..='\u{E007F}')
}

/// `text` without the [invisible](is_invisible) characters that only hide or reorder it:
/// zero-width spaces, bidi controls, fillers. Those that shape text (joiners, variation
/// selectors, tags) stay, so emoji and scripts that need them survive.
pub fn strip_invisible(text: &str) -> String {
    text.chars().filter(|c| !is_invisible(*c) || shapes_text(*c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_width_and_bidi_characters_are_invisible() {
        for c in ['\u{200B}', '\u{200D}', '\u{202E}', '\u{2066}', '\u{FEFF}', '\u{00AD}'] {
            assert!(is_invisible(c), "{c:?}");
        }
        for c in ['a', 'é', ' ', '漢', '😀'] {
            assert!(!is_invisible(c), "{c:?}");
        }
        assert_eq!(strip_invisible("ev\u{202E}il\u{200B}"), "evil");
        let family = "👨\u{200D}👩\u{200D}👧 ❤\u{FE0F}";
        assert_eq!(strip_invisible(family), family);
    }
}
