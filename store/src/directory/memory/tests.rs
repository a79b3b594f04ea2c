//! The directory conformance suite against [`MemoryDirectory`], one test per check.

use super::*;
use crate::directory::conformance;

#[tokio::test]
async fn users() {
    conformance::users(&MemoryDirectory::new()).await;
}

#[tokio::test]
async fn user_paging() {
    conformance::user_paging(&MemoryDirectory::new()).await;
}

#[tokio::test]
async fn devices() {
    conformance::devices(&MemoryDirectory::new()).await;
}

#[tokio::test]
async fn invalidation_since() {
    conformance::invalidation_since(&MemoryDirectory::new()).await;
}

#[tokio::test]
async fn preferences() {
    conformance::preferences(&MemoryDirectory::new()).await;
}

#[tokio::test]
async fn categories() {
    conformance::categories(&MemoryDirectory::new()).await;
}

#[tokio::test]
async fn templates() {
    conformance::templates(&MemoryDirectory::new()).await;
}

#[tokio::test]
async fn concurrent_template_versions() {
    conformance::concurrent_template_versions(&MemoryDirectory::new()).await;
}

#[tokio::test]
async fn cursors() {
    conformance::cursors(&MemoryDirectory::new()).await;
}

#[tokio::test]
async fn tenant_isolation() {
    conformance::tenant_isolation(&MemoryDirectory::new()).await;
}

#[tokio::test]
async fn user_deletion_cascades() {
    conformance::user_deletion_cascades(&MemoryDirectory::new()).await;
}
