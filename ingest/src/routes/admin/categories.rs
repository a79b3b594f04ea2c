//! `/v1/categories[/{category_id}]`: the kinds of notification a tenant sends, which users opt
//! in and out of; critical ones bypass opt-out and quiet hours where the tenant allows it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::Json;
use notify_store::directory::Category;
use serde::{Deserialize, Serialize};

use super::checks::{self, record};
use super::{check_id, directory_problem, parse_body, Dir, Paging, PathParams, QueryParams};
use crate::problem::Problem;
use crate::tenant::Tenant;

/// Longest category description.
const MAX_DESCRIPTION_BYTES: usize = 1024;

/// A category as written by `PUT`; replaces the category.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    /// What the category is for, as users see it.
    pub description: Option<String>,
    /// Security codes, fraud alerts: bypasses opt-out and quiet hours where the tenant allows.
    #[serde(default)]
    pub critical: bool,
}

/// A stored category.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CategoryView {
    /// The category id.
    pub category_id: String,
    /// Description.
    pub description: Option<String>,
    /// Critical.
    pub critical: bool,
    /// First stored, Unix epoch milliseconds.
    pub created_at_ms: i64,
    /// Last written, Unix epoch milliseconds.
    pub updated_at_ms: i64,
}

impl From<Category> for CategoryView {
    fn from(category: Category) -> Self {
        Self {
            category_id: category.category_id,
            description: category.description,
            critical: category.critical,
            created_at_ms: category.created_at_ms,
            updated_at_ms: category.updated_at_ms,
        }
    }
}

/// One page of categories.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CategoryPage {
    /// Categories in id order.
    pub items: Vec<CategoryView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Read a category.
#[utoipa::path(
    get,
    path = "/v1/categories/{category_id}",
    tag = "categories",
    params(("category_id" = String, Path, description = "the tenant's id of the category")),
    responses(
        (status = 200, description = "the category", body = CategoryView),
        (status = 401, description = "no or wrong credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such category", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "directory unavailable, retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("basic" = []), ("bearer" = []))
)]
pub(super) async fn get(
    tenant: Tenant,
    dir: Dir,
    PathParams(category_id): PathParams<String>,
) -> Result<Json<CategoryView>, Problem> {
    check_id("category_id", &category_id)?;
    match dir.get_category(tenant.id(), &category_id).await {
        Ok(Some(category)) => Ok(Json(category.into())),
        Ok(None) => Err(Problem::not_found("category")),
        Err(err) => Err(directory_problem(err)),
    }
}

/// Create or replace a category.
#[utoipa::path(
    put,
    path = "/v1/categories/{category_id}",
    tag = "categories",
    params(("category_id" = String, Path, description = "the tenant's id of the category, at most 128 bytes")),
    request_body = CategoryBody,
    responses(
        (status = 200, description = "replaced", body = CategoryView),
        (status = 201, description = "created", body = CategoryView),
        (status = 400, description = "malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "no or wrong credentials", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "directory unavailable, retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("basic" = []), ("bearer" = []))
)]
pub(super) async fn put(
    tenant: Tenant,
    dir: Dir,
    PathParams(category_id): PathParams<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CategoryView>), Problem> {
    check_id("category_id", &category_id)?;
    let body: CategoryBody = parse_body(body)?;
    let mut errors = Vec::new();
    if let Some(description) = &body.description {
        record(
            &mut errors,
            "/description",
            checks::text(description, MAX_DESCRIPTION_BYTES, false),
        );
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let category = Category {
        category_id,
        description: body.description,
        critical: body.critical,
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    let stored = dir
        .put_category(tenant.id(), &category)
        .await
        .map_err(directory_problem)?;
    let status = if stored.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(stored.record.into())))
}

/// Delete a category. Preferences naming it stay and no longer match anything.
#[utoipa::path(
    delete,
    path = "/v1/categories/{category_id}",
    tag = "categories",
    params(("category_id" = String, Path, description = "the tenant's id of the category")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, description = "no or wrong credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such category", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "directory unavailable, retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("basic" = []), ("bearer" = []))
)]
pub(super) async fn delete(
    tenant: Tenant,
    dir: Dir,
    PathParams(category_id): PathParams<String>,
) -> Result<StatusCode, Problem> {
    check_id("category_id", &category_id)?;
    match dir.delete_category(tenant.id(), &category_id).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(Problem::not_found("category")),
        Err(err) => Err(directory_problem(err)),
    }
}

/// List the tenant's categories, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/categories",
    tag = "categories",
    params(
        ("cursor" = Option<String>, Query, description = "`next` of the previous page"),
        ("limit" = Option<usize>, Query, description = "page size, 1 to 500, default 50"),
    ),
    responses(
        (status = 200, description = "one page", body = CategoryPage),
        (status = 401, description = "no or wrong credentials", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "directory unavailable, retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("basic" = []), ("bearer" = []))
)]
pub(super) async fn list(
    tenant: Tenant,
    dir: Dir,
    query: QueryParams,
) -> Result<Json<CategoryPage>, Problem> {
    let paging = Paging::from_query(&query)?;
    let page = dir
        .list_categories(tenant.id(), paging.cursor.as_deref(), paging.limit)
        .await
        .map_err(directory_problem)?;
    Ok(Json(CategoryPage {
        items: page.items.into_iter().map(CategoryView::from).collect(),
        next: page.next,
    }))
}
