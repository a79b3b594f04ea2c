//! Templates in memory: every version kept, the latest served by default. See
//! [`super::MemoryDirectory`].

use super::{of_tenant, page_of, MemoryDirectory};
use crate::directory::cursor::{self, Listing, Position};
use crate::directory::model::{Page, Template, TemplateVariant};
use crate::directory::{check_variants, now_ms, page_size, stored_variants, DirectoryResult};

impl MemoryDirectory {
    /// [`crate::directory::Directory::get_template`].
    pub(super) fn read_template(
        &self,
        tenant: &str,
        template_id: &str,
        version: Option<u32>,
    ) -> Vec<Template> {
        let state = self.state();
        let Some(entry) = state
            .templates
            .get(&(tenant.to_owned(), template_id.to_owned()))
        else {
            return Vec::new();
        };
        let variants = match version {
            Some(v) => entry.versions.get(&v),
            None => entry.versions.values().next_back(),
        };
        variants.cloned().unwrap_or_default()
    }

    /// [`crate::directory::Directory::put_template`].
    pub(super) fn write_template(
        &self,
        tenant: &str,
        template_id: &str,
        variants: &[TemplateVariant],
    ) -> DirectoryResult<Vec<Template>> {
        check_variants(variants)?;
        let now = now_ms();
        let mut state = self.state();
        let entry = state
            .templates
            .entry((tenant.to_owned(), template_id.to_owned()))
            .or_default();
        let version = entry.latest_version + 1;
        let stored = stored_variants(template_id, version, variants, now);
        entry.latest_version = version;
        entry.versions.insert(version, stored.clone());
        Ok(stored)
    }

    /// [`crate::directory::Directory::delete_template`].
    pub(super) fn remove_template(&self, tenant: &str, template_id: &str) -> bool {
        self.state()
            .templates
            .remove(&(tenant.to_owned(), template_id.to_owned()))
            .is_some()
    }

    /// [`crate::directory::Directory::list_templates`].
    pub(super) fn template_ids(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<String>> {
        let start = cursor::decode(Listing::Templates, cursor)?;
        let state = self.state();
        let range = of_tenant(&state.templates, tenant, start)
            .filter(|(_, entry)| !entry.versions.is_empty())
            .map(|((_, id), _)| (id, id));
        Ok(page_of(
            range,
            page_size(limit),
            String::clone,
            |id| Position::after(id),
            Listing::Templates,
        ))
    }
}
