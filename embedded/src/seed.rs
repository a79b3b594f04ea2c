//! The demo tenant: an app with a key and secret, categories, templates in two locales for
//! every channel, and users covering every channel and the policy cases worth seeing.
//!
//! | user | channels | policy |
//! |---|---|---|
//! | `alice` | APNs, web push, SMS, email | none |
//! | `bruno` | FCM, SMS, email (`de`) | opted out of `promotions` on every channel |
//! | `chen` | APNs, FCM, email | quiet hours covering the time of seeding (UTC), for ten hours |
//! | `dana` | FCM, SMS, email | opted out of everything: only critical categories reach her |
//! | `user-01` … | APNs or FCM (alternating), every third web push, SMS, email | none |
//!
//! `security` is a critical category, so it bypasses opt-out and quiet hours; `promotions` goes
//! in the bulk lane. The tenant has one rate limit ([`settings`]): at most
//! [`BULK_SMS_PER_HOUR`] bulk SMS per user and hour, and a send over it is suppressed as
//! `rate_limited`, so a user's third promotion in an hour reaches every channel but SMS.
//! Everything is written through the same [`Directory`], [`AppStore`] and [`SettingsStore`]
//! traits the admin API and `notify apps create` use.

use std::collections::BTreeMap;

use notify_ingest::auth::provision;
use notify_schemas::Channel;
use notify_sim::webpush::WebPushSim;
use notify_store::directory::{
    Category, Directory, Preference, PushTarget, QuietHours, TemplateVariant, User,
    WebPushSubscription,
};
use notify_store::settings::{OverLimit, RateLimitRule, SettingsStore, TenantSettings};
use notify_store::tenants::{AppStore, Scopes};
use uuid::Uuid;

use crate::EmbeddedError;

/// A transactional category.
pub const ORDERS: &str = "orders";
/// A promotional category (bulk lane) that `bruno` opted out of.
pub const PROMOTIONS: &str = "promotions";
/// A critical category: bypasses opt-out and quiet hours.
pub const SECURITY: &str = "security";

/// The named users with a policy of their own.
pub const ALICE: &str = "alice";
/// Opted out of [`PROMOTIONS`].
pub const BRUNO: &str = "bruno";
/// In quiet hours.
pub const CHEN: &str = "chen";
/// Opted out of everything.
pub const DANA: &str = "dana";

/// Bulk-priority SMS one user may get per hour; more are suppressed as `rate_limited`.
pub const BULK_SMS_PER_HOUR: u32 = 2;

/// The demo tenant's settings: the [`BULK_SMS_PER_HOUR`] limit, over which sends are
/// suppressed; everything else as the router's defaults.
pub fn settings() -> TenantSettings {
    TenantSettings {
        rate_limits: vec![RateLimitRule {
            channel: Some(Channel::Sms.as_str().to_owned()),
            priorities: vec!["bulk".into()],
            limit: BULK_SMS_PER_HOUR,
            window_s: 3_600,
        }],
        over_limit: OverLimit::Suppress,
        ..TenantSettings::default()
    }
}

/// How many `user-NN` users the seed adds.
pub const GENERIC_USERS: usize = 16;

/// What was seeded, for printing and for the sender.
#[derive(Debug, Clone)]
pub struct DemoTenant {
    /// The tenant id.
    pub tenant_id: String,
    /// The app key (HTTP Basic user name).
    pub app_key: String,
    /// The app secret (HTTP Basic password); shown once, like `notify apps create` does.
    pub app_secret: String,
    /// Every seeded user id, named users first.
    pub users: Vec<String>,
}

/// Seeds the demo tenant into `tenants`, `settings` and `directory`; web push subscriptions
/// are minted by `webpush` like a browser would get them. `now_ms` places `chen`'s quiet hours.
pub async fn seed(
    tenants: &dyn AppStore,
    settings: &dyn SettingsStore,
    directory: &dyn Directory,
    webpush: &WebPushSim,
    now_ms: i64,
) -> Result<DemoTenant, EmbeddedError> {
    let seed_err = |err: &dyn std::fmt::Display| EmbeddedError::Seed(err.to_string());
    let tenant = provision::create_tenant(tenants, "notify demo")
        .await
        .map_err(|e| seed_err(&e))?;
    // every scope: the demo key sends, reads status and manages the demo tenant's directory
    let app = provision::create_app(tenants, &tenant.tenant_id, None, Scopes::ALL, None)
        .await
        .map_err(|e| seed_err(&e))?;
    let t = tenant.tenant_id.as_str();
    let tenant_settings = self::settings();
    tenant_settings.validate().map_err(|e| seed_err(&e))?;
    settings
        .put_settings(t, &tenant_settings)
        .await
        .map_err(|e| seed_err(&e))?;

    for (id, critical, description) in [
        (ORDERS, false, "order updates"),
        (PROMOTIONS, false, "deals and newsletters"),
        (SECURITY, true, "sign-in codes and fraud alerts"),
    ] {
        let category = Category {
            category_id: id.into(),
            description: Some(description.into()),
            critical,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        directory
            .put_category(t, &category)
            .await
            .map_err(|e| seed_err(&e))?;
    }
    for (id, variants) in templates() {
        directory
            .put_template(t, id, &variants)
            .await
            .map_err(|e| seed_err(&e))?;
    }

    let mut users = Vec::new();
    for (n, spec) in user_specs(now_ms).into_iter().enumerate() {
        directory
            .put_user(t, &spec.user)
            .await
            .map_err(|e| seed_err(&e))?;
        let id = spec.user.user_id.clone();
        let mut targets = Vec::new();
        if spec.apns {
            targets.push(PushTarget::Apns {
                token: apns_token(&id),
            });
        }
        if spec.fcm {
            targets.push(PushTarget::Fcm {
                token: format!("fcm-{}", Uuid::new_v5(&Uuid::NAMESPACE_OID, id.as_bytes())),
            });
        }
        if spec.webpush {
            let sub = webpush.subscribe(None).map_err(|e| seed_err(&e))?;
            targets.push(PushTarget::WebPush {
                subscription: WebPushSubscription {
                    endpoint: sub.endpoint,
                    p256dh: sub.p256dh,
                    auth: sub.auth,
                },
            });
        }
        for target in &targets {
            directory
                .put_device(t, &id, target, None)
                .await
                .map_err(|e| seed_err(&e))?;
        }
        if !spec.preferences.is_empty() {
            directory
                .put_preferences(t, &id, &spec.preferences)
                .await
                .map_err(|e| seed_err(&e))?;
        }
        tracing::debug!(user = %id, n, "seeded");
        users.push(id);
    }
    Ok(DemoTenant {
        tenant_id: tenant.tenant_id,
        app_key: app.app_key,
        app_secret: app.secret.expose().to_owned(),
        users,
    })
}

/// A 64-hex-digit APNs device token derived from the user id.
fn apns_token(user_id: &str) -> String {
    let a = Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("{user_id}/apns/1").as_bytes());
    let b = Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("{user_id}/apns/2").as_bytes());
    format!("{}{}", a.simple(), b.simple())
}

struct UserSpec {
    user: User,
    apns: bool,
    fcm: bool,
    webpush: bool,
    preferences: Vec<Preference>,
}

fn contact(id: &str, n: usize, locale: &str) -> User {
    User {
        locale: Some(locale.into()),
        time_zone: Some("UTC".into()),
        email: Some(format!("{id}@example.com")),
        phone: Some(format!("+1555010{n:04}")),
        ..User::new(id)
    }
}

fn user_specs(now_ms: i64) -> Vec<UserSpec> {
    let minute_now = u16::try_from((now_ms / 60_000).rem_euclid(1440)).unwrap_or(0);
    let quiet = QuietHours {
        // started a minute ago, lasts ten hours: longer than any demo run
        start_minute: (minute_now + 1440 - 1) % 1440,
        end_minute: (minute_now + 600) % 1440,
    };
    let mut specs = vec![
        UserSpec {
            user: contact(ALICE, 1, "en"),
            apns: true,
            fcm: false,
            webpush: true,
            preferences: Vec::new(),
        },
        UserSpec {
            user: contact(BRUNO, 2, "de"),
            apns: false,
            fcm: true,
            webpush: false,
            preferences: Channel::ALL
                .into_iter()
                .map(|channel| Preference {
                    category: PROMOTIONS.into(),
                    channel,
                    enabled: false,
                })
                .collect(),
        },
        UserSpec {
            user: User {
                phone: None,
                quiet_hours: Some(quiet),
                ..contact(CHEN, 3, "en")
            },
            apns: true,
            fcm: true,
            webpush: false,
            preferences: Vec::new(),
        },
        UserSpec {
            user: User {
                opted_out: true,
                ..contact(DANA, 4, "en")
            },
            apns: false,
            fcm: true,
            webpush: false,
            preferences: Vec::new(),
        },
    ];
    for n in 1..=GENERIC_USERS {
        let id = format!("user-{n:02}");
        let locale = if n % 2 == 0 { "de" } else { "en" };
        specs.push(UserSpec {
            user: contact(&id, 100 + n, locale),
            apns: n % 2 == 1,
            fcm: n % 2 == 0,
            webpush: n % 3 == 0,
            preferences: Vec::new(),
        });
    }
    specs
}

/// Texts of one template in one locale: push title, push body, SMS text, email subject.
struct Texts {
    title: &'static str,
    body: &'static str,
    sms: &'static str,
    subject: &'static str,
}

fn variants(locale: &str, texts: &Texts, link: &str) -> Vec<TemplateVariant> {
    let base = |channel| TemplateVariant {
        locale: locale.into(),
        channel,
        title: None,
        body: None,
        subject: None,
        html: None,
        text: None,
        data: BTreeMap::new(),
    };
    let push = |channel| TemplateVariant {
        title: Some(texts.title.into()),
        body: Some(texts.body.into()),
        data: BTreeMap::from([("link".to_owned(), link.to_owned())]),
        ..base(channel)
    };
    vec![
        push(Channel::Apns),
        push(Channel::Fcm),
        push(Channel::WebPush),
        TemplateVariant {
            text: Some(texts.sms.into()),
            ..base(Channel::Sms)
        },
        TemplateVariant {
            subject: Some(texts.subject.into()),
            // a web link for the email, which the demo's tracked links wrap
            html: Some(format!(
                r#"<p>{}</p><p><a href="{}">{}</a></p>"#,
                texts.body,
                link.replace("app://", "https://shop.example/"),
                texts.title
            )),
            text: Some(texts.body.into()),
            ..base(Channel::Email)
        },
    ]
}

fn templates() -> Vec<(&'static str, Vec<TemplateVariant>)> {
    let order_en = Texts {
        title: "Order shipped",
        body: "Your {{ product }} is on its way.",
        sms: "Your {{ product }} shipped.",
        subject: "Your {{ product }} shipped",
    };
    let order_de = Texts {
        title: "Bestellung versandt",
        body: "Dein {{ product }} ist unterwegs.",
        sms: "Dein {{ product }} wurde versandt.",
        subject: "Dein {{ product }} wurde versandt",
    };
    let deals_en = Texts {
        title: "This week's deals",
        body: "{{ discount }} off {{ product }} until Sunday.",
        sms: "{{ discount }} off {{ product }} until Sunday.",
        subject: "{{ discount }} off {{ product }}",
    };
    let deals_de = Texts {
        title: "Angebote der Woche",
        body: "{{ discount }} Rabatt auf {{ product }} bis Sonntag.",
        sms: "{{ discount }} Rabatt auf {{ product }} bis Sonntag.",
        subject: "{{ discount }} Rabatt auf {{ product }}",
    };
    let code_en = Texts {
        title: "Sign-in code",
        body: "Your code is {{ code }}. It expires in 10 minutes.",
        sms: "Your code is {{ code }}.",
        subject: "Your sign-in code",
    };
    let code_de = Texts {
        title: "Anmeldecode",
        body: "Dein Code lautet {{ code }}. Er verfällt in 10 Minuten.",
        sms: "Dein Code lautet {{ code }}.",
        subject: "Dein Anmeldecode",
    };
    let mut order = variants("en", &order_en, "app://orders");
    order.extend(variants("de", &order_de, "app://orders"));
    let mut deals = variants("en", &deals_en, "app://deals");
    deals.extend(variants("de", &deals_de, "app://deals"));
    let mut code = variants("en", &code_en, "app://security");
    code.extend(variants("de", &code_de, "app://security"));
    vec![
        ("order_shipped", order),
        ("weekly_deals", deals),
        ("security_code", code),
    ]
}
