//! `/v1/categories[/{category_id}]`: the kinds of notification a tenant sends, which users opt
//! in and out of; critical ones bypass opt-out and quiet hours where the tenant allows it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::Json;
use notify_store::directory::Category;
use serde::{Deserialize, Serialize};

use super::checks::{self, record};
use super::{
    check_id, deleted, found, page_of, parse_checked, upserted, Dir, Paging, PathParams,
    QueryParams,
};
use crate::problem::{FieldError, Problem};
use crate::routes::responses::{CategoryLookup, Listing, Problems, Upsert};
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

/// Every rule a category body breaks.
fn check_body(body: &CategoryBody) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(description) = &body.description {
        record(
            &mut errors,
            "/description",
            checks::text(description, MAX_DESCRIPTION_BYTES, false),
        );
    }
    errors
}

/// Read a category.
#[utoipa::path(
    get,
    path = "/v1/categories/{category_id}",
    tag = "categories",
    params(("category_id" = String, Path, description = "the tenant's id of the category")),
    responses(
        (status = 200, description = "the category", body = CategoryView),
        Problems<CategoryLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn get(
    tenant: Tenant,
    dir: Dir,
    PathParams(category_id): PathParams<String>,
) -> Result<Json<CategoryView>, Problem> {
    check_id("category_id", &category_id)?;
    found(
        dir.get_category(tenant.id(), &category_id).await,
        "category",
    )
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
        Problems<Upsert>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn put(
    tenant: Tenant,
    dir: Dir,
    PathParams(category_id): PathParams<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CategoryView>), Problem> {
    check_id("category_id", &category_id)?;
    let body: CategoryBody = parse_checked(body, check_body)?;
    let category = Category {
        category_id,
        description: body.description,
        critical: body.critical,
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    upserted(dir.put_category(tenant.id(), &category).await)
}

/// Delete a category. Preferences naming it stay and no longer match anything.
#[utoipa::path(
    delete,
    path = "/v1/categories/{category_id}",
    tag = "categories",
    params(("category_id" = String, Path, description = "the tenant's id of the category")),
    responses(
        (status = 204, description = "deleted"),
        Problems<CategoryLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn delete(
    tenant: Tenant,
    dir: Dir,
    PathParams(category_id): PathParams<String>,
) -> Result<StatusCode, Problem> {
    check_id("category_id", &category_id)?;
    deleted(
        dir.delete_category(tenant.id(), &category_id).await,
        "category",
    )
}

/// List the tenant's categories, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/categories",
    tag = "categories",
    params(Paging),
    responses(
        (status = 200, description = "one page", body = CategoryPage),
        Problems<Listing>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn list(
    tenant: Tenant,
    dir: Dir,
    query: QueryParams,
) -> Result<Json<CategoryPage>, Problem> {
    let paging = Paging::from_query(&query)?;
    let (items, next) = page_of(
        dir.list_categories(tenant.id(), paging.cursor.as_deref(), paging.limit)
            .await,
    )?;
    Ok(Json(CategoryPage { items, next }))
}
