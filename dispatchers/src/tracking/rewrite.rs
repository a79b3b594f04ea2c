//! Rewriting a message's links into tracked ones: `href` attributes of an HTML body, bare URLs
//! of a text body, and the open pixel at the end of an HTML body.
//!
//! Guarantees: only absolute http(s) links are wrapped (`mailto:`, `tel:`, anchors and relative
//! links are left as they are); a link already pointing at the tracking routes is not wrapped
//! again; an attribute's entities are decoded before the link is signed, so the recipient is
//! sent where the author meant; everything but the rewritten links is copied unchanged. Not
//! guaranteed: links built by scripts or CSS are not seen (email clients run neither).

/// Each `href` value of `html` replaced by `wrap(destination)` where it answers `Some`.
pub fn html_links(html: &str, mut wrap: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html;
    while let Some(at) = find_href(rest) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let Some(value) = attribute_value(from) else {
            out.push_str(&from[..4]);
            rest = &from[4..];
            continue;
        };
        let (raw, quote) = (value.raw, value.quote);
        let destination = decode_entities(raw);
        match wrap(destination.trim()) {
            Some(tracked) => {
                out.push_str(&from[..value.start]);
                let quote = quote.unwrap_or('"');
                out.push(quote);
                out.push_str(&escape_attribute(&tracked));
                out.push(quote);
            }
            None => out.push_str(&from[..value.end]),
        }
        rest = &from[value.end..];
    }
    out.push_str(rest);
    out
}

/// Each bare http(s) URL of `text` replaced by `wrap(url)` where it answers `Some`; trailing
/// sentence punctuation stays outside the link.
pub fn text_links(text: &str, mut wrap: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut rest = text;
    while let Some(at) = find_url(rest) {
        out.push_str(&rest[..at]);
        let from = &rest[at..];
        let end = from
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(from.len());
        let url = from[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'']);
        match wrap(url) {
            Some(tracked) => out.push_str(&tracked),
            None => out.push_str(url),
        }
        rest = &from[url.len()..];
    }
    out.push_str(rest);
    out
}

/// `html` with a 1x1 image of `pixel_url` before its closing `</body>`, or at its end.
pub fn with_pixel(html: &str, pixel_url: &str) -> String {
    let img = format!(
        r#"<img src="{}" width="1" height="1" alt="" style="border:0;width:1px;height:1px">"#,
        escape_attribute(pixel_url)
    );
    let at = html
        .to_ascii_lowercase()
        .rfind("</body")
        .unwrap_or(html.len());
    format!("{}{img}{}", &html[..at], &html[at..])
}

/// The next `href` that is an attribute name (preceded by whitespace) of an `<a>` or `<area>`
/// tag: a stylesheet's or a `<base>`'s `href` is fetched by the client, not followed by the
/// reader, and is left alone.
fn find_href(html: &str) -> Option<usize> {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("href") {
        let at = from + found;
        let preceded = lower[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace);
        let tag = lower[..at]
            .rfind('<')
            .filter(|&open| lower[..at].rfind('>').is_none_or(|close| close < open))
            .and_then(|open| lower[open + 1..at].split_whitespace().next());
        if preceded && matches!(tag, Some("a" | "area")) {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

struct Value<'a> {
    /// Offset of the value's first byte (its quote, if quoted), from `href`.
    start: usize,
    /// Offset just past the value (past its closing quote).
    end: usize,
    raw: &'a str,
    quote: Option<char>,
}

/// The value of the attribute starting at `from` (`href = "..."`), if it has one.
fn attribute_value(from: &str) -> Option<Value<'_>> {
    let after_name = 4;
    let eq = after_name + from[after_name..].len() - from[after_name..].trim_start().len();
    if !from[eq..].starts_with('=') {
        return None;
    }
    let after_eq = &from[eq + 1..];
    let start = eq + 1 + after_eq.len() - after_eq.trim_start().len();
    let value = &from[start..];
    match value.chars().next()? {
        quote @ ('"' | '\'') => {
            let close = value[1..].find(quote)?;
            Some(Value {
                start,
                end: start + close + 2,
                raw: &value[1..=close],
                quote: Some(quote),
            })
        }
        _ => {
            let len = value
                .find(|c: char| c.is_whitespace() || c == '>')
                .unwrap_or(value.len());
            Some(Value {
                start,
                end: start + len,
                raw: &value[..len],
                quote: None,
            })
        }
    }
}

fn find_url(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    [lower.find("https://"), lower.find("http://")]
        .into_iter()
        .flatten()
        .min()
}

/// The common character references of an attribute value decoded.
fn decode_entities(raw: &str) -> String {
    if !raw.contains('&') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let from = &rest[at..];
        let decoded = from.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &from[1..end];
            let c = match name {
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "lt" => Some('<'),
                "gt" => Some('>'),
                _ => match name.strip_prefix('#') {
                    Some(hex) if hex.starts_with(['x', 'X']) => u32::from_str_radix(&hex[1..], 16)
                        .ok()
                        .and_then(char::from_u32),
                    Some(dec) => dec.parse().ok().and_then(char::from_u32),
                    None => None,
                },
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &from[len..];
            }
            None => {
                out.push('&');
                rest = &from[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn escape_attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
