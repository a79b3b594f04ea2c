//! Templates in Cassandra: version allocation by compare-and-set on `templates_by_tenant`,
//! variants written one by one, then published. See the module docs of [`super`].

use futures::{StreamExt, TryStreamExt};
use scylla::value::CqlTimestamp;

use super::rows::{all_rows, lwt_outcome, shape, TemplateHeadRow, TemplateRow};
use super::{limit_value, CassandraDirectory, FAN_OUT};
use crate::directory::cursor::{self, Listing, Position};
use crate::directory::model::{Page, Template, TemplateVariant};
use crate::directory::{
    check_variants, now_ms, page_size, stored_variants, DirectoryError, DirectoryResult,
};

/// Compare-and-set attempts to allocate a template version before giving up with a conflict.
const VERSION_ATTEMPTS: usize = 16;

impl CassandraDirectory {
    /// The published version of a template; `None` if the template does not exist.
    async fn published_version(
        &self,
        tenant: &str,
        template_id: &str,
    ) -> DirectoryResult<Option<u32>> {
        let result = self.exec(&self.s.get_head, (tenant, template_id)).await?;
        Ok(all_rows::<TemplateHeadRow>(result)?
            .into_iter()
            .next()
            .map(|head| head.published_version.unwrap_or(0))
            .and_then(|v| u32::try_from(v).ok()))
    }

    /// Hands out the next version of a template by compare-and-set on its head row.
    async fn allocate_version(&self, tenant: &str, template_id: &str) -> DirectoryResult<i32> {
        let now = CqlTimestamp(now_ms());
        let mut current: Option<i32> = None;
        for _ in 0..VERSION_ATTEMPTS {
            let (applied, seen) = match current {
                None => {
                    let result = self
                        .exec(&self.s.create_head, (tenant, template_id, now, now))
                        .await?;
                    lwt_outcome(result, "latest_version")?
                }
                Some(version) => {
                    let result = self
                        .exec(
                            &self.s.bump_head,
                            (version + 1, now, tenant, template_id, version),
                        )
                        .await?;
                    lwt_outcome(result, "latest_version")?
                }
            };
            if applied {
                return Ok(current.unwrap_or(0) + 1);
            }
            // Lost the race (or the head was deleted meanwhile): retry from what is there now.
            current = seen;
        }
        Err(DirectoryError::Conflict(format!(
            "template {template_id}: no version after {VERSION_ATTEMPTS} attempts"
        )))
    }

    /// The variants of one version, as stored.
    async fn variants(
        &self,
        tenant: &str,
        template_id: &str,
        version: u32,
    ) -> DirectoryResult<Vec<Template>> {
        let version = i32::try_from(version).map_err(|_| {
            DirectoryError::InvalidInput(format!("template version {version} out of range"))
        })?;
        let result = self
            .exec(&self.s.get_variants, (tenant, template_id, version))
            .await?;
        all_rows::<TemplateRow>(result)?
            .into_iter()
            .map(TemplateRow::into_template)
            .collect()
    }

    /// [`crate::directory::Directory::get_template`].
    pub(super) async fn read_template(
        &self,
        tenant: &str,
        template_id: &str,
        version: Option<u32>,
    ) -> DirectoryResult<Vec<Template>> {
        let Some(published) = self.published_version(tenant, template_id).await? else {
            return Ok(Vec::new());
        };
        // Versions above the published one may be half-written: not served.
        let version = version.unwrap_or(published);
        if version == 0 || version > published {
            return Ok(Vec::new());
        }
        self.variants(tenant, template_id, version).await
    }

    /// [`crate::directory::Directory::put_template`].
    pub(super) async fn write_template(
        &self,
        tenant: &str,
        template_id: &str,
        variants: &[TemplateVariant],
    ) -> DirectoryResult<Vec<Template>> {
        check_variants(variants)?;
        let version = self.allocate_version(tenant, template_id).await?;
        let stored_version = u32::try_from(version).map_err(shape)?;
        let now = now_ms();
        let stored = stored_variants(template_id, stored_version, variants, now);
        // Written one by one rather than as a batch: email HTML can exceed the server's batch
        // size limit. Readers do not see them before the version is published below.
        futures::stream::iter(stored.clone())
            .map(|t| async move {
                self.exec(
                    &self.s.insert_variant,
                    (
                        tenant,
                        template_id,
                        version,
                        t.locale.as_str(),
                        t.channel.as_str(),
                        &t.title,
                        &t.body,
                        &t.subject,
                        &t.html,
                        &t.text,
                        &t.data,
                        CqlTimestamp(now),
                    ),
                )
                .await
            })
            .buffer_unordered(FAN_OUT)
            .try_for_each(|_| async { Ok(()) })
            .await?;
        self.exec(
            &self.s.publish_head,
            (version, CqlTimestamp(now), tenant, template_id, version),
        )
        .await?;
        Ok(stored)
    }

    /// [`crate::directory::Directory::delete_template`].
    pub(super) async fn remove_template(
        &self,
        tenant: &str,
        template_id: &str,
    ) -> DirectoryResult<bool> {
        let result = self
            .exec(&self.s.delete_head, (tenant, template_id))
            .await?;
        let (existed, _) = lwt_outcome(result, "latest_version")?;
        self.exec(&self.s.delete_variants, (tenant, template_id))
            .await?;
        Ok(existed)
    }

    /// [`crate::directory::Directory::list_templates`].
    pub(super) async fn template_ids(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<String>> {
        let mut after = cursor::decode(Listing::Templates, cursor)?
            .map(|p| p.key)
            .unwrap_or_default();
        let limit = page_size(limit);
        let want = limit + 1;
        let mut ids = Vec::with_capacity(want);
        // Templates whose first version is still being written (published 0) are skipped, so
        // a page may take more than one query.
        loop {
            let result = self
                .exec(
                    &self.s.list_heads,
                    (tenant, after.as_str(), limit_value(want)),
                )
                .await?;
            let heads = all_rows::<TemplateHeadRow>(result)?;
            let exhausted = heads.len() < want;
            if let Some(last) = heads.last() {
                after = last.template_id.clone();
            }
            ids.extend(
                heads
                    .into_iter()
                    .filter(|h| h.published_version.unwrap_or(0) > 0)
                    .map(|h| h.template_id)
                    .take(want - ids.len()),
            );
            if exhausted || ids.len() >= want {
                break;
            }
        }
        Ok(cursor::page(ids, limit, Listing::Templates, |id| {
            Position::after(id)
        }))
    }
}
