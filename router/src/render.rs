//! Content of one channel: a template variant rendered with the request's params, or the
//! request's inline content.
//!
//! Guarantees:
//! - a variable a template uses but the params do not define is an error, never an empty
//!   string (strict undefined); `{{ x | default("...") }}` and `{% if x is defined %}` remain
//!   the way to make one optional;
//! - values are HTML-escaped in the email HTML part only; push fields, SMS text, the subject
//!   and the plain-text part are rendered as written;
//! - a template's execution is bounded ([`TEMPLATE_FUEL`]), so a tenant's template cannot hold
//!   a router thread or its memory;
//! - inline content is sent as given: it is not a template, and `{{` in it stays as it is;
//! - every [`RenderError`] is permanent: the same request and templates fail the same way.
//!
//! Templates are compiled on every call (no cache). They are a few hundred bytes and compile in
//! microseconds, well below the cost of the record around them; a cache keyed by (tenant,
//! template id, version, locale, channel) would be safe, since a version never changes once
//! written, and can be added if profiles show compilation.

use std::collections::{BTreeMap, BTreeSet};

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};
use notify_common::locale::{chain as locale_chain, normalize};
use notify_schemas::limits::{ContentError, ContentLimits};
use notify_schemas::{
    Channel, NotificationRequest, RenderedContent, RenderedEmail, RenderedPush, RenderedSms,
};
use notify_store::directory::Template;

/// Execution budget of one template field (minijinja fuel: about one unit per instruction,
/// and about 64 bytes of data per unit), generous for notification text.
pub const TEMPLATE_FUEL: u64 = 100_000;

/// Name under which the email HTML part is compiled; the only one auto-escaped.
const EMAIL_HTML: &str = "email.html";

/// Content ready for a [`notify_schemas::Delivery`] on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// What to send.
    pub content: RenderedContent,
    /// Locale of the template variant used; for inline content, the request's locale.
    pub locale: Option<String>,
}

/// Why a channel's content could not be produced. Every variant is permanent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The request names a template that has no variants, and has no inline fallback.
    #[error("template {template_id} not found")]
    NotFound {
        /// The template id.
        template_id: String,
    },
    /// The template has no variant for the channel in any fallback locale, and the request has
    /// no inline fallback.
    #[error(
        "template {template_id} has no {channel} variant for locales {}",
        .tried.join(", ")
    )]
    NoVariant {
        /// The template id.
        template_id: String,
        /// The channel.
        channel: Channel,
        /// Locales looked for, in order.
        tried: Vec<String>,
    },
    /// Neither a template nor inline content for the channel.
    #[error("no template and no inline content for {channel}")]
    NoContent {
        /// The channel.
        channel: Channel,
    },
    /// The variant lacks a field its channel requires (push body, SMS text, email subject, an
    /// email html or text part).
    #[error("template {template_id} v{version} ({locale}, {channel}) has no {field}")]
    MissingField {
        /// The template id.
        template_id: String,
        /// Its version.
        version: u32,
        /// Locale of the variant.
        locale: String,
        /// Channel of the variant.
        channel: Channel,
        /// The missing field.
        field: &'static str,
    },
    /// The variant does not compile, uses a variable the params lack, or runs out of fuel.
    /// The message names the field and line, never a param's value.
    #[error("template {template_id} v{version} ({locale}, {channel}): {message}")]
    Template {
        /// The template id.
        template_id: String,
        /// Its version.
        version: u32,
        /// Locale of the variant.
        locale: String,
        /// Channel of the variant.
        channel: Channel,
        /// What went wrong, e.g. `undefined value (in sms.text:1); not in params: code`.
        message: String,
    },
    /// The content (rendered or inline) is more than the channel's provider accepts, or an
    /// email subject would break its header line.
    #[error("{source}")]
    Content {
        /// Which limit it broke.
        #[from]
        source: ContentError,
    },
}

impl RenderError {
    /// Always true: rendering the same input again fails the same way, so the delivery is
    /// reported `render_failed` rather than retried.
    pub fn is_permanent(&self) -> bool {
        true
    }
}

/// The number of SMS segments `text` takes (GSM-7 if every character has a GSM-7 form, else
/// UCS-2); 0 for an empty text.
pub fn sms_segment_count(text: &str) -> u32 {
    notify_schemas::sms::sms_segments(text).1
}

/// Renders channel content. Holds a configured template environment; shared by reference.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    limits: ContentLimits,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    /// A renderer with the default content limits; see [`Renderer::with_limits`].
    pub fn new() -> Self {
        Self::with_limits(ContentLimits::default())
    }

    /// A renderer with strict undefined variables, HTML escaping for the email HTML part only,
    /// [`TEMPLATE_FUEL`] per field, and content that must fit `limits` (and each push
    /// provider's payload limit) once rendered.
    pub fn with_limits(limits: ContentLimits) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name == EMAIL_HTML {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_fuel(Some(TEMPLATE_FUEL));
        Self { env, limits }
    }

    /// The content of `request` on `channel`.
    ///
    /// With a template, the variant is picked from `templates` (the variants the directory
    /// returned for `request.template`; if several versions are present, the highest wins) by
    /// channel and by the first locale of this chain that has one:
    /// `request.locale`, its language (`ko-KR` → `ko`), `user_locale`, its language,
    /// `tenant_default_locale`, its language. Locales compare case-insensitively, with `_`
    /// read as `-`. The request's own locale comes first, language included, because a
    /// producer that names one means it. No other variant is picked: the wrong language is
    /// worse than an error.
    ///
    /// The template wins over inline content; the inline content for the channel (`push` for
    /// APNs, FCM and web push) is the fallback when no variant matches. Without a template,
    /// the inline content is used as given.
    ///
    /// Email is sent from `email_from`. SMS segments are counted on the rendered text. Content
    /// larger than the channel takes ([`ContentLimits`]) is a [`RenderError::Content`], whether
    /// it was rendered or inline: a producer writing to Kafka directly is not checked by ingest.
    pub fn render(
        &self,
        channel: Channel,
        templates: &[Template],
        request: &NotificationRequest,
        user_locale: Option<&str>,
        tenant_default_locale: &str,
        email_from: &str,
    ) -> Result<Rendered, RenderError> {
        let rendered = self.pick(
            channel,
            templates,
            request,
            user_locale,
            tenant_default_locale,
            email_from,
        )?;
        self.limits.check(channel, &rendered.content)?;
        Ok(rendered)
    }

    fn pick(
        &self,
        channel: Channel,
        templates: &[Template],
        request: &NotificationRequest,
        user_locale: Option<&str>,
        tenant_default_locale: &str,
        email_from: &str,
    ) -> Result<Rendered, RenderError> {
        let inline = inline(channel, request, email_from);
        let Some(reference) = &request.template else {
            return inline.ok_or(RenderError::NoContent { channel });
        };
        let versions = templates
            .iter()
            .filter(|t| t.template_id == reference.template_id);
        let Some(version) = versions.clone().map(|t| t.version).max() else {
            return inline.ok_or_else(|| RenderError::NotFound {
                template_id: reference.template_id.clone(),
            });
        };
        let variants: Vec<&Template> = versions
            .filter(|t| t.version == version && t.channel == channel)
            .collect();
        let chain = locale_chain(&[
            request.locale.as_deref(),
            user_locale,
            Some(tenant_default_locale),
        ]);
        let found = chain.iter().find_map(|locale| {
            variants
                .iter()
                .find(|v| normalize(&v.locale) == *locale)
                .copied()
        });
        match found {
            Some(variant) => self.render_variant(variant, &reference.params, email_from),
            None => inline.ok_or_else(|| RenderError::NoVariant {
                template_id: reference.template_id.clone(),
                channel,
                tried: chain,
            }),
        }
    }

    fn render_variant(
        &self,
        variant: &Template,
        params: &BTreeMap<String, String>,
        email_from: &str,
    ) -> Result<Rendered, RenderError> {
        let job = Job {
            env: &self.env,
            variant,
            params,
        };
        let content = match variant.channel {
            Channel::Apns | Channel::Fcm | Channel::WebPush => {
                let body = job.required("body", variant.body.as_deref())?;
                let title = match &variant.title {
                    Some(title) => job.field("push.title", title)?,
                    None => String::new(),
                };
                let mut data = BTreeMap::new();
                for (key, value) in &variant.data {
                    data.insert(key.clone(), job.field(&format!("push.data.{key}"), value)?);
                }
                RenderedContent::Push(RenderedPush::text(
                    title,
                    job.field("push.body", body)?,
                    data,
                ))
            }
            Channel::Sms => {
                let text = job.field("sms.text", job.required("text", variant.text.as_deref())?)?;
                RenderedContent::Sms(sms(text))
            }
            Channel::Email => {
                let subject = job.field(
                    "email.subject",
                    job.required("subject", variant.subject.as_deref())?,
                )?;
                if variant.html.is_none() && variant.text.is_none() {
                    return Err(job.missing("html or text"));
                }
                let html = match &variant.html {
                    Some(html) => Some(job.field(EMAIL_HTML, html)?),
                    None => None,
                };
                let text = match &variant.text {
                    Some(text) => Some(job.field("email.text", text)?),
                    None => None,
                };
                RenderedContent::Email(RenderedEmail {
                    subject,
                    html,
                    text,
                    from: email_from.to_owned(),
                    reply_to: None,
                })
            }
        };
        Ok(Rendered {
            content,
            locale: Some(variant.locale.clone()),
        })
    }
}

/// One variant being rendered.
struct Job<'a> {
    env: &'a Environment<'static>,
    variant: &'a Template,
    params: &'a BTreeMap<String, String>,
}

impl Job<'_> {
    fn required<'s>(
        &self,
        field: &'static str,
        value: Option<&'s str>,
    ) -> Result<&'s str, RenderError> {
        value.ok_or_else(|| self.missing(field))
    }

    fn missing(&self, field: &'static str) -> RenderError {
        RenderError::MissingField {
            template_id: self.variant.template_id.clone(),
            version: self.variant.version,
            locale: self.variant.locale.clone(),
            channel: self.variant.channel,
            field,
        }
    }

    fn failed(&self, message: String) -> RenderError {
        RenderError::Template {
            template_id: self.variant.template_id.clone(),
            version: self.variant.version,
            locale: self.variant.locale.clone(),
            channel: self.variant.channel,
            message,
        }
    }

    /// Renders one field; `name` (`push.title`, `email.html`, ...) appears in error messages
    /// and decides escaping.
    fn field(&self, name: &str, source: &str) -> Result<String, RenderError> {
        let template = self
            .env
            .template_from_named_str(name, source)
            .map_err(|err| self.failed(err.to_string()))?;
        let params = Value::from_pairs(self.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        template.render(params).map_err(|err| {
            let mut message = err.to_string();
            if err.kind() == ErrorKind::UndefinedError {
                // minijinja does not name the undefined variable; the static list of variables
                // the field uses minus the params is the likely culprit.
                let missing: BTreeSet<String> = template
                    .undeclared_variables(false)
                    .into_iter()
                    .filter(|name| !self.params.contains_key(name))
                    .collect();
                if !missing.is_empty() {
                    let names: Vec<&str> = missing.iter().map(String::as_str).collect();
                    message.push_str("; not in params: ");
                    message.push_str(&names.join(", "));
                }
            }
            self.failed(message)
        })
    }
}

fn sms(text: String) -> RenderedSms {
    let segments = i32::try_from(sms_segment_count(&text)).unwrap_or(i32::MAX);
    RenderedSms { text, segments }
}

/// The request's inline content for `channel`, if it has some.
fn inline(channel: Channel, request: &NotificationRequest, email_from: &str) -> Option<Rendered> {
    let content = request.content.as_ref()?;
    let rendered = match channel {
        Channel::Apns | Channel::Fcm | Channel::WebPush => {
            let push = content.push.as_ref()?;
            RenderedContent::Push(RenderedPush {
                title: push.title.clone(),
                body: push.body.clone(),
                data: push.data.clone(),
                image_url: push.image_url.clone(),
                click_url: push.click_url.clone(),
                sound: push.sound.clone(),
                badge: push.badge,
                collapse_key: None,
                ttl_seconds: None,
            })
        }
        Channel::Sms => RenderedContent::Sms(sms(content.sms.as_ref()?.text.clone())),
        Channel::Email => {
            let email = content.email.as_ref()?;
            RenderedContent::Email(RenderedEmail {
                subject: email.subject.clone(),
                html: email.html.clone(),
                text: email.text.clone(),
                from: email_from.to_owned(),
                reply_to: None,
            })
        }
    };
    Some(Rendered {
        content: rendered,
        locale: request.locale.clone(),
    })
}
