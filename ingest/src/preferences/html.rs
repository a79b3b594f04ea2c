//! The pages as HTML: plain forms that work without JavaScript, every control labelled, each
//! category a fieldset with a legend, state said in words (never by colour alone), the page's
//! language in `lang`. Everything that is not the page's own text is escaped.
//!
//! Every answer carries the same headers: a Content-Security-Policy that allows no script, only
//! the one stylesheet below (by hash), forms posting back to this origin, and no framing; no
//! referrer (the path holds the token), no caching, no sniffing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use notify_schemas::Channel;
use sha2::{Digest, Sha256};

use super::text::Text;

/// The only style, inline and allowed by its hash.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;\
padding:0 1rem;line-height:1.5}fieldset{margin:0 0 1rem;padding:.5rem 1rem}\
label{display:block;padding:.25rem 0}input{width:1.25rem;height:1.25rem;vertical-align:middle}\
button{font-size:1rem;padding:.5rem 1rem}:focus{outline:3px solid;outline-offset:2px}";

/// The channels in the order the page lists them.
pub const CHANNELS: [Channel; 5] = [
    Channel::Email,
    Channel::Sms,
    Channel::WebPush,
    Channel::Apns,
    Channel::Fcm,
];

/// One category as the preference page shows it.
#[derive(Debug, Clone)]
pub struct Row {
    /// Category id (the form's value).
    pub id: String,
    /// What the user reads: the tenant's description, else the id.
    pub name: String,
    /// Cannot be turned off.
    pub critical: bool,
    /// Whether each of [`CHANNELS`] is on, in that order.
    pub enabled: [bool; 5],
}

/// Escapes text for an HTML element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `template` with `{category}` and `{channel}` filled in, escaped.
pub fn fill(template: &str, category: &str, channel: &str) -> String {
    escape(template)
        .replace("{category}", &escape(category))
        .replace("{channel}", &escape(channel))
}

/// The value of a checkbox: `<category>:<channel>`.
pub fn field(category: &str, channel: Channel) -> String {
    format!("{category}:{}", channel.as_str())
}

/// The preference page. `action` is the page's own path; `saved` adds the confirmation.
pub fn preference_page(text: &Text, action: &str, rows: &[Row], saved: bool) -> String {
    let mut body = format!(
        "<h1>{}</h1>\n<p>{}</p>\n",
        escape(text.page_title),
        escape(text.page_intro)
    );
    if saved {
        body.push_str(&format!(
            "<p role=\"status\"><strong>{}</strong></p>\n",
            escape(text.saved)
        ));
    }
    if rows.is_empty() {
        body.push_str(&format!("<p>{}</p>\n", escape(text.no_categories)));
        return document(text, text.page_title, &body);
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"{}\">\n",
        escape(action)
    ));
    for (i, row) in rows.iter().enumerate() {
        body.push_str(&format!(
            "<fieldset{}>\n<legend>{}</legend>\n",
            if row.critical {
                format!(" aria-describedby=\"always-{i}\"")
            } else {
                String::new()
            },
            escape(&row.name)
        ));
        if row.critical {
            body.push_str(&format!(
                "<p id=\"always-{i}\">{}</p>\n",
                escape(text.always_on)
            ));
        }
        for (j, channel) in CHANNELS.into_iter().enumerate() {
            let id = format!("c{i}-{}", channel.as_str());
            let on = row.critical || row.enabled[j];
            body.push_str(&format!(
                "<label for=\"{id}\"><input type=\"checkbox\" id=\"{id}\" name=\"on\" value=\"{}\"{}{}> {}</label>\n",
                escape(&field(&row.id, channel)),
                if on { " checked" } else { "" },
                if row.critical { " disabled" } else { "" },
                escape(text.channel(channel)),
            ));
        }
        body.push_str("</fieldset>\n");
    }
    body.push_str(&format!(
        "<button type=\"submit\">{}</button>\n</form>\n",
        escape(text.save)
    ));
    document(text, text.page_title, &body)
}

/// The page behind an unsubscribe link's GET: one button that posts the one-click body.
pub fn unsubscribe_page(
    text: &Text,
    action: &str,
    category: &str,
    channel: Channel,
    manage_url: &str,
) -> String {
    let body = format!(
        "<h1>{}</h1>\n<form method=\"post\" action=\"{}\">\n<p>{}</p>\n\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\n\
         <button type=\"submit\">{}</button>\n</form>\n<p><a href=\"{}\">{}</a></p>\n",
        escape(text.unsubscribe_title),
        escape(action),
        fill(text.unsubscribe_question, category, text.channel(channel)),
        escape(text.unsubscribe_button),
        escape(manage_url),
        escape(text.manage),
    );
    document(text, text.unsubscribe_title, &body)
}

/// A page with one message (and a link to the preference page, when there is one).
pub fn message_page(text: &Text, title: &str, message: &str, manage_url: Option<&str>) -> String {
    let mut body = format!(
        "<h1>{}</h1>\n<p role=\"status\">{message}</p>\n",
        escape(title)
    );
    if let Some(url) = manage_url {
        body.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>\n",
            escape(url),
            escape(text.manage)
        ));
    }
    document(text, title, &body)
}

fn document(text: &Text, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        text.lang,
        escape(title)
    )
}

/// The Content-Security-Policy of every page.
pub fn content_security_policy() -> String {
    let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// `html` as a response with `status` and the security headers.
pub fn respond(status: StatusCode, html: String, csp: &HeaderValue) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_text_is_escaped_and_critical_rows_are_disabled_in_words() {
        let text = Text::pick(&[Some("en")]);
        let rows = [
            Row {
                id: "news\"><script>".into(),
                name: "<b>News</b>".into(),
                critical: false,
                enabled: [false, true, true, true, true],
            },
            Row {
                id: "security".into(),
                name: "Security".into(),
                critical: true,
                enabled: [false; 5],
            },
        ];
        let page = preference_page(text, "/p/t.k.m", &rows, true);
        assert!(
            !page.contains("<script>") && !page.contains("<b>"),
            "{page}"
        );
        assert!(page.contains("&lt;b&gt;News&lt;/b&gt;"));
        assert!(page.contains("<html lang=\"en\">"));
        assert!(page.contains("role=\"status\""));
        assert!(page.contains(text.always_on));
        assert!(
            page.contains("name=\"on\" value=\"security:email\" checked disabled> Email</label>")
        );
        assert!(page.contains("value=\"news&quot;&gt;&lt;script&gt;:email\"> Email"));
        assert_eq!(page.matches("<label for=").count(), 10);
        assert_eq!(page.matches("<legend>").count(), 2);
    }

    #[test]
    fn the_policy_allows_the_style_and_no_script() {
        let csp = content_security_policy();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("script-src") && !csp.contains("unsafe"));
    }
}
