//! Users in Cassandra: a user row plus its id in `users_by_tenant`, written and deleted in one
//! logged batch; pages walk the buckets. See the module docs of [`super`].

use futures::{StreamExt, TryStreamExt};
use scylla::value::CqlTimestamp;

use super::{CassandraDirectory, FAN_OUT};
use crate::directory::cursor::{self, user_bucket, Listing, Position, USER_BUCKETS};
use crate::directory::model::{Page, Upserted, User};
use crate::directory::{now_ms, page_size, upserted, Directory, DirectoryResult};

impl CassandraDirectory {
    /// [`crate::directory::Directory::put_user`].
    pub(super) async fn write_user(
        &self,
        tenant: &str,
        user: &User,
    ) -> DirectoryResult<Upserted<User>> {
        let existing = self.get_user(tenant, &user.user_id).await?;
        let upserted = upserted(user, existing.map(|u| u.created_at_ms), now_ms());
        let record = &upserted.record;
        let quiet = record.quiet_hours;
        let values = (
            (
                tenant,
                &record.user_id,
                &record.locale,
                &record.time_zone,
                &record.email,
                &record.phone,
                quiet.map(|q| i32::from(q.start_minute)),
                quiet.map(|q| i32::from(q.end_minute)),
                record.opted_out,
                CqlTimestamp(record.created_at_ms),
                CqlTimestamp(record.updated_at_ms),
            ),
            (
                tenant,
                i32::from(user_bucket(&record.user_id)),
                &record.user_id,
            ),
        );
        self.batch(&self.s.put_user, values).await?;
        Ok(upserted)
    }

    /// [`crate::directory::Directory::list_users`].
    pub(super) async fn user_page(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<User>> {
        let start = cursor::decode(Listing::Users, cursor)?;
        let limit = page_size(limit);
        let want = limit + 1;
        let (start_bucket, after) = match start {
            Some(p) => (p.bucket, p.key),
            None => (0, String::new()),
        };
        let mut bucket = start_bucket;
        let mut ids: Vec<String> = Vec::with_capacity(want);
        let mut window = 1;
        while ids.len() < want && bucket < USER_BUCKETS {
            let end = (bucket + window).min(USER_BUCKETS);
            let remaining = want - ids.len();
            let batches = futures::future::try_join_all((bucket..end).map(|b| {
                // Only the cursor's own bucket resumes after its key; later ones start at the top.
                let after = if b == start_bucket {
                    after.as_str()
                } else {
                    ""
                };
                self.user_ids(tenant, b, after, remaining)
            }))
            .await?;
            ids.extend(batches.into_iter().flatten().take(remaining));
            bucket = end;
            window = (window * 2).min(FAN_OUT as u16);
        }
        let Page { items: ids, next } =
            cursor::page(ids, limit, Listing::Users, |id| Position::after_user(id));
        // A listed id whose user row is gone is a delete in progress: skip it.
        let users: Vec<Option<User>> = futures::stream::iter(ids)
            .map(|id| async move { self.get_user(tenant, &id).await })
            .buffered(FAN_OUT)
            .try_collect()
            .await?;
        Ok(Page {
            items: users.into_iter().flatten().collect(),
            next,
        })
    }
}
