//! `/v1/templates[/{template_id}]`: versioned notification content.
//!
//! A `PUT` writes a new version holding every variant (locale x channel) of the template; the
//! previous versions stay readable with `?version=`. Variables (`{{order_id}}`) are kept as
//! text here and rendered by the router.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::{Extension, Json};
use notify_schemas::limits::ContentLimits;
use notify_store::directory::{Channel, Template, TemplateVariant};
use serde::{Deserialize, Serialize};

use super::checks::record;
use super::{
    check_id, deleted, directory_problem, page_of, parse_checked, ChannelName, Dir, Paging,
    PathParams, QueryParams,
};
use crate::problem::{FieldError, Problem};
use crate::routes::responses::{Listing, Problems, TemplateDelete, TemplateRead, TemplateWrite};
use crate::tenant::Tenant;
use crate::validate::fields;

/// A new version of a template.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// Every variant of the version, 1 to 100, each locale x channel once.
    pub variants: Vec<VariantBody>,
}

/// The content of one locale x channel. Push channels use `title`, `body` and `data`; SMS uses
/// `text`; email uses `subject` and `html` and/or `text`. Fields a channel does not use are
/// refused.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantBody {
    /// BCP 47 locale (`en`, `ko-KR`).
    pub locale: String,
    /// Channel.
    pub channel: ChannelName,
    /// Push title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Push body (required for push).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Email subject (required for email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Email HTML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// SMS text (required for SMS), or the plain-text part of an email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Custom push data.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

/// One version of a template.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemplateView {
    /// The template id.
    pub template_id: String,
    /// The version, from 1.
    pub version: u32,
    /// When the version was written, Unix epoch milliseconds.
    pub created_at_ms: i64,
    /// Its variants in (locale, channel) order, filtered by `locale` and `channel` if given.
    pub variants: Vec<VariantBody>,
}

/// One page of template ids.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemplateIdPage {
    /// Template ids in order.
    pub items: Vec<String>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next: Option<String>,
}

fn variant_view(template: Template) -> VariantBody {
    VariantBody {
        locale: template.locale,
        channel: template.channel.into(),
        title: template.title,
        body: template.body,
        subject: template.subject,
        html: template.html,
        text: template.text,
        data: template.data,
    }
}

fn view(template_id: String, variants: Vec<Template>) -> TemplateView {
    TemplateView {
        template_id,
        version: variants.first().map_or(0, |v| v.version),
        created_at_ms: variants.first().map_or(0, |v| v.created_at_ms),
        variants: variants.into_iter().map(variant_view).collect(),
    }
}

/// `?version=&locale=&channel=` of a template read.
struct Selection {
    version: Option<u32>,
    locale: Option<String>,
    channel: Option<Channel>,
}

fn selection(query: &QueryParams) -> Result<Selection, Problem> {
    let mut errors = Vec::new();
    query.unknown(&["version", "locale", "channel"], &mut errors);
    let version = query
        .0
        .get("version")
        .and_then(|text| match text.parse::<u32>() {
            Ok(v) if v >= 1 && i32::try_from(v).is_ok() => Some(v),
            _ => {
                errors.push(FieldError::new(
                    "version",
                    "must be a version number from 1",
                ));
                None
            }
        });
    let locale = query.0.get("locale").cloned();
    if let Some(locale) = &locale {
        record(&mut errors, "locale", fields::locale(locale));
    }
    let channel = query.0.get("channel").and_then(|name| {
        let channel = Channel::ALL.into_iter().find(|c| c.as_str() == name);
        if channel.is_none() {
            errors.push(FieldError::new(
                "channel",
                "must be one of apns, fcm, webpush, sms, email",
            ));
        }
        channel
    });
    if errors.is_empty() {
        Ok(Selection {
            version,
            locale,
            channel,
        })
    } else {
        Err(Problem::validation(errors))
    }
}

/// Read the newest (or a given) version of a template.
#[utoipa::path(
    get,
    path = "/v1/templates/{template_id}",
    tag = "templates",
    params(
        ("template_id" = String, Path, description = "the tenant's id of the template"),
        ("version" = Option<u32>, Query, description = "a version; the newest when absent"),
        ("locale" = Option<String>, Query, description = "only the variants of this locale (exact match, no fallback)"),
        ("channel" = Option<ChannelName>, Query, description = "only the variants of this channel"),
    ),
    responses(
        (status = 200, description = "the version", body = TemplateView),
        Problems<TemplateRead>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn get(
    tenant: Tenant,
    dir: Dir,
    PathParams(template_id): PathParams<String>,
    query: QueryParams,
) -> Result<Json<TemplateView>, Problem> {
    check_id("template_id", &template_id)?;
    let selection = selection(&query)?;
    let variants = dir
        .get_template(tenant.id(), &template_id, selection.version)
        .await
        .map_err(directory_problem)?;
    if variants.is_empty() {
        return Err(Problem::not_found(if selection.version.is_some() {
            "template version"
        } else {
            "template"
        }));
    }
    let selected: Vec<Template> = variants
        .into_iter()
        .filter(|v| selection.locale.as_deref().is_none_or(|l| v.locale == l))
        .filter(|v| selection.channel.is_none_or(|c| v.channel == c))
        .collect();
    if selected.is_empty() {
        return Err(Problem::not_found("template variant"));
    }
    Ok(Json(view(template_id, selected)))
}

/// Write a new version of a template.
#[utoipa::path(
    put,
    path = "/v1/templates/{template_id}",
    tag = "templates",
    params(("template_id" = String, Path, description = "the tenant's id of the template, at most 128 bytes")),
    request_body = TemplateBody,
    responses(
        (status = 201, description = "the new version", body = TemplateView),
        Problems<TemplateWrite>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn put(
    tenant: Tenant,
    dir: Dir,
    Extension(limits): Extension<ContentLimits>,
    PathParams(template_id): PathParams<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<TemplateView>), Problem> {
    check_id("template_id", &template_id)?;
    let body: TemplateBody =
        parse_checked(body, |b| super::template_checks::check_body(b, &limits))?;
    let variants: Vec<TemplateVariant> = body
        .variants
        .into_iter()
        .map(|v| TemplateVariant {
            locale: v.locale,
            channel: v.channel.into(),
            title: v.title,
            body: v.body,
            subject: v.subject,
            html: v.html,
            text: v.text,
            data: v.data,
        })
        .collect();
    let stored = dir
        .put_template(tenant.id(), &template_id, &variants)
        .await
        .map_err(directory_problem)?;
    Ok((StatusCode::CREATED, Json(view(template_id, stored))))
}

/// Delete a template with every version.
#[utoipa::path(
    delete,
    path = "/v1/templates/{template_id}",
    tag = "templates",
    params(("template_id" = String, Path, description = "the tenant's id of the template")),
    responses(
        (status = 204, description = "deleted, every version"),
        Problems<TemplateDelete>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn delete(
    tenant: Tenant,
    dir: Dir,
    PathParams(template_id): PathParams<String>,
) -> Result<StatusCode, Problem> {
    check_id("template_id", &template_id)?;
    deleted(
        dir.delete_template(tenant.id(), &template_id).await,
        "template",
    )
}

/// List the tenant's template ids, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/templates",
    tag = "templates",
    params(Paging),
    responses(
        (status = 200, description = "one page", body = TemplateIdPage),
        Problems<Listing>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn list(
    tenant: Tenant,
    dir: Dir,
    query: QueryParams,
) -> Result<Json<TemplateIdPage>, Problem> {
    let paging = Paging::from_query(&query)?;
    let (items, next) = page_of(
        dir.list_templates(tenant.id(), paging.cursor.as_deref(), paging.limit)
            .await,
    )?;
    Ok(Json(TemplateIdPage { items, next }))
}
