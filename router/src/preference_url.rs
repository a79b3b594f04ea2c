//! The `preferences_url` template variable: a signed link to the recipient's preference page,
//! so a tenant's email (or any template) can offer "manage your notifications".
//!
//! Guarantees: offered to every templated request while `[links]` is configured, valid for
//! `links.preferences_ttl_s` from routing; a producer's own `preferences_url` parameter wins
//! (a tenant with its own preference centre keeps it). Inline content is not templated and
//! gets nothing.

use notify_common::preference_links::{PageClaims, PreferenceLinks};
use notify_schemas::NotificationRequest;

/// The template variable's name.
pub const VARIABLE: &str = "preferences_url";

/// `request` with `preferences_url` added to its template's parameters, or `None` when it has
/// no template or already sets the variable.
pub fn with_preferences_url(
    request: &NotificationRequest,
    links: &PreferenceLinks,
    now_ms: i64,
) -> Option<NotificationRequest> {
    let template = request.template.as_ref()?;
    if template.params.contains_key(VARIABLE) {
        return None;
    }
    let claims = PageClaims {
        tenant: request.tenant.clone(),
        user_id: request.user_id.clone(),
        locale: request.locale.clone(),
    };
    let url = links.page_url(&claims, now_ms.div_euclid(1000));
    let mut request = request.clone();
    if let Some(template) = &mut request.template {
        template.params.insert(VARIABLE.to_owned(), url);
    }
    Some(request)
}

#[cfg(test)]
mod tests {
    use notify_common::links::LinkKeys;
    use notify_schemas::samples::{full_request, minimal_request};

    use super::*;

    fn links() -> PreferenceLinks {
        let keys = LinkKeys::new(&[b"the router's link key, of 32 b!!"]).unwrap();
        PreferenceLinks::new("https://n.example", keys, 60)
    }

    #[test]
    fn a_templated_request_gets_a_link_to_its_users_page() {
        let request = full_request();
        assert!(request.template.is_some());
        let with = with_preferences_url(&request, &links(), 5_000).expect("added");
        let url = &with.template.as_ref().unwrap().params[VARIABLE];
        let token = url.strip_prefix("https://n.example/p/").expect("page url");
        let claims = links()
            .verify_page(token, 64)
            .expect("verifies until expiry");
        assert_eq!(
            (claims.tenant, claims.user_id),
            (request.tenant, request.user_id)
        );
        assert_eq!(claims.locale, request.locale);
        assert!(links().verify_page(token, 65).is_err(), "expired");
        // the producer's own value stays; inline content gets nothing
        assert!(with_preferences_url(&with, &links(), 5_000).is_none());
        let mut inline = minimal_request();
        inline.template = None;
        assert!(with_preferences_url(&inline, &links(), 5_000).is_none());
    }
}
