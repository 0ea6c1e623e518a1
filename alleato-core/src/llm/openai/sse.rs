//! A server-sent-events parser over bytes that arrive in pieces of any size.
//!
//! Lines end in LF, CRLF or CR (a CR at the end of one piece and an LF at the start of the next
//! are one line end); `data:` with or without its space; comments and unknown fields are
//! skipped; a blank line dispatches the event. What counts as the end of the body is the
//! caller's: see [`EventParser::end`].

use super::super::port::LlmError;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// `message` unless an `event:` field said otherwise.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Default)]
pub(crate) struct EventParser {
    line: Vec<u8>,
    /// The last piece ended in CR: an LF first in the next one belongs to that line end.
    after_cr: bool,
    /// The body's first bytes were looked at for a byte-order mark.
    started: bool,
    event: String,
    data: String,
    has_data: bool,
}

impl EventParser {
    /// Parses `piece`, pushing each event it completes onto `out`.
    ///
    /// # Errors
    /// [`LlmError::Malformed`] when a line is not UTF-8.
    pub fn push(&mut self, mut piece: &[u8], out: &mut Vec<SseEvent>) -> Result<(), LlmError> {
        if !self.started && !piece.is_empty() {
            self.started = true;
            piece = piece.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(piece);
        }
        if self.after_cr {
            self.after_cr = false;
            piece = piece.strip_prefix(b"\n").unwrap_or(piece);
        }
        while let Some(end) = piece.iter().position(|b| matches!(b, b'\n' | b'\r')) {
            self.line.extend_from_slice(&piece[..end]);
            let line = std::mem::take(&mut self.line);
            self.line(&line, out)?;
            if piece[end] == b'\r' {
                match piece.get(end + 1) {
                    Some(b'\n') => piece = &piece[end + 2..],
                    Some(_) => piece = &piece[end + 1..],
                    None => {
                        self.after_cr = true;
                        piece = &[];
                    }
                }
            } else {
                piece = &piece[end + 1..];
            }
        }
        self.line.extend_from_slice(piece);
        Ok(())
    }

    /// The body ended. When it ended right after a complete line, an event whose blank line was
    /// left off still counts; a body cut in the middle of a line drops its partial event.
    pub fn end(&mut self, out: &mut Vec<SseEvent>) {
        if self.line.is_empty() {
            self.dispatch(out);
        }
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), LlmError> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        let line =
            std::str::from_utf8(line).map_err(|_| LlmError::Malformed("the stream is not valid UTF-8".to_owned()))?;
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => value.clone_into(&mut self.event),
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        if !std::mem::take(&mut self.has_data) {
            return;
        }
        out.push(SseEvent {
            event: if event.is_empty() { "message".to_owned() } else { event },
            data: std::mem::take(&mut self.data),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pieces: &[&[u8]], end: bool) -> Vec<(String, String)> {
        let mut parser = EventParser::default();
        let mut out = Vec::new();
        for piece in pieces {
            parser.push(piece, &mut out).unwrap();
        }
        if end {
            parser.end(&mut out);
        }
        out.into_iter().map(|e| (e.event, e.data)).collect()
    }

    fn msg(data: &str) -> (String, String) {
        ("message".to_owned(), data.to_owned())
    }

    #[test]
    fn events_split_anywhere_parse_the_same() {
        let body =
            b"\xEF\xBB\xBF: keep-alive\r\ndata: one\r\n\r\nevent: error\ndata:two\ndata: lines\n\ndata: three\r\r";
        let whole = parse(&[body], false);
        assert_eq!(
            whole,
            vec![msg("one"), ("error".to_owned(), "two\nlines".to_owned()), msg("three")]
        );
        for cut in 0..body.len() {
            assert_eq!(parse(&[&body[..cut], &body[cut..]], false), whole, "cut at {cut}");
        }
    }

    #[test]
    fn a_last_event_without_its_blank_line_counts_only_if_its_line_is_whole() {
        assert_eq!(parse(&[b"data: a\n\ndata: b\n"], true), vec![msg("a"), msg("b")]);
        assert_eq!(parse(&[b"data: a\n\ndata: b"], true), vec![msg("a")]);
        assert_eq!(parse(&[b"data: a\n\ndata: b\n"], false), vec![msg("a")]);
    }

    #[test]
    fn invalid_utf8_is_malformed() {
        let mut parser = EventParser::default();
        let err = parser.push(b"data: \xff\xfe\n\n", &mut Vec::new()).unwrap_err();
        assert!(matches!(err, LlmError::Malformed(_)), "{err:?}");
    }
}
