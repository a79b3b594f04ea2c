//! The records of the directory. Plain data: no I/O, no validation beyond what the types say.
//! Timestamps are Unix epoch milliseconds, as in the Avro records.

use std::collections::BTreeMap;
use std::fmt;

use notify_schemas::Channel;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A recipient of notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id chosen by the tenant, unique within it.
    pub user_id: String,
    /// Preferred locale (BCP 47, e.g. `en-US`) for templates; `None` uses the template default.
    pub locale: Option<String>,
    /// IANA time zone name (e.g. `Europe/Berlin`) for quiet hours; `None` means UTC.
    pub time_zone: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number in E.164 form.
    pub phone: Option<String>,
    /// Daily window in `time_zone` when non-critical sends are deferred.
    pub quiet_hours: Option<QuietHours>,
    /// Global opt-out: nothing but critical categories is sent.
    pub opted_out: bool,
    /// When the user was first stored.
    pub created_at_ms: i64,
    /// When the user was last written.
    pub updated_at_ms: i64,
}

impl User {
    /// A user with no details, not opted out.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            locale: None,
            time_zone: None,
            email: None,
            phone: None,
            quiet_hours: None,
            opted_out: false,
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }
}

/// A daily window, in minutes after local midnight. `start_minute > end_minute` wraps past
/// midnight (22:00-07:00 is `1320..420`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// First minute of the window, 0..1440.
    pub start_minute: u16,
    /// First minute after the window, 0..1440.
    pub end_minute: u16,
}

impl QuietHours {
    /// Whether `minute_of_day` (0..1440, local time) falls in the window.
    pub fn contains(&self, minute_of_day: u16) -> bool {
        if self.start_minute <= self.end_minute {
            (self.start_minute..self.end_minute).contains(&minute_of_day)
        } else {
            minute_of_day >= self.start_minute || minute_of_day < self.end_minute
        }
    }
}

/// Push platform of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Apple Push Notification service.
    Apns,
    /// Firebase Cloud Messaging.
    Fcm,
    /// Browser push (RFC 8030).
    #[serde(rename = "webpush")]
    WebPush,
}

impl Platform {
    /// The lowercase name stored in the database and used by the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Platform::Apns => "apns",
            Platform::Fcm => "fcm",
            Platform::WebPush => "webpush",
        }
    }

    /// The platform named `name` (as [`Platform::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Self> {
        [Platform::Apns, Platform::Fcm, Platform::WebPush]
            .into_iter()
            .find(|p| p.as_str() == name)
    }

    /// The delivery channel of this platform.
    pub const fn channel(self) -> Channel {
        match self {
            Platform::Apns => Channel::Apns,
            Platform::Fcm => Channel::Fcm,
            Platform::WebPush => Channel::WebPush,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A browser's push subscription (the `PushSubscription` JSON of the Push API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebPushSubscription {
    /// The push service URL to POST messages to.
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The 16-byte authentication secret, base64url.
    pub auth: String,
}

/// Where pushes to a device go: a platform with its token or subscription. Serialized with a
/// `platform` tag: `{"platform": "apns", "token": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "lowercase")]
pub enum PushTarget {
    /// An APNs device token (hex).
    Apns {
        /// The token.
        token: String,
    },
    /// An FCM registration token.
    Fcm {
        /// The token.
        token: String,
    },
    /// A web push subscription.
    #[serde(rename = "webpush")]
    WebPush {
        /// The subscription.
        subscription: WebPushSubscription,
    },
}

impl PushTarget {
    /// The platform.
    pub fn platform(&self) -> Platform {
        match self {
            PushTarget::Apns { .. } => Platform::Apns,
            PushTarget::Fcm { .. } => Platform::Fcm,
            PushTarget::WebPush { .. } => Platform::WebPush,
        }
    }

    /// What identifies the device on its platform: the token, or the subscription endpoint.
    pub fn address(&self) -> &str {
        match self {
            PushTarget::Apns { token } | PushTarget::Fcm { token } => token,
            PushTarget::WebPush { subscription } => &subscription.endpoint,
        }
    }
}

/// The device id of a push target: the first 16 hex digits of SHA-256 over the platform and the
/// token (or endpoint). The same token always gets the same id, so registering is idempotent,
/// and the id does not reveal the token.
pub fn device_id_for(target: &PushTarget) -> String {
    let mut hasher = Sha256::new();
    hasher.update(target.platform().as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(target.address().as_bytes());
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a device can receive pushes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceState {
    /// Pushes are sent to it.
    Active,
    /// The provider rejected the token for good; nothing is sent until it is registered again.
    Invalid {
        /// Why (the provider's reason, e.g. `Unregistered`).
        reason: String,
    },
}

/// A device of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Id derived from the target by [`device_id_for`].
    pub device_id: String,
    /// Platform and token or subscription.
    pub target: PushTarget,
    /// APNs topic (bundle id) or app identifier, when the tenant has more than one app.
    pub app_topic: Option<String>,
    /// Active or invalid.
    pub state: DeviceState,
    /// When the device was first registered.
    pub created_at_ms: i64,
    /// When it was last registered; marking it invalid leaves this alone, so it tells whether
    /// the app registered the token again after a provider said it was gone.
    pub updated_at_ms: i64,
}

impl Device {
    /// The platform of the device.
    pub fn platform(&self) -> Platform {
        self.target.platform()
    }
}

/// Whether a user receives one category on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preference {
    /// Category id.
    pub category: String,
    /// Channel.
    #[serde(with = "channel_name")]
    pub channel: Channel,
    /// Whether sends of the category on the channel are wanted.
    pub enabled: bool,
}

/// A kind of notification users can opt out of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// Id chosen by the tenant.
    pub category_id: String,
    /// What the category is for, shown to users.
    pub description: Option<String>,
    /// Security codes, fraud alerts: bypasses opt-out and quiet hours where the tenant allows.
    pub critical: bool,
    /// When the category was first stored.
    pub created_at_ms: i64,
    /// When it was last written.
    pub updated_at_ms: i64,
}

/// Declares [`TemplateVariant`] (one locale x channel of a template, as written) and
/// [`Template`] (the same, stored as a version) from one list of content fields, so the two
/// cannot drift apart, with [`Template::from_variant`] copying every one of them.
macro_rules! template_records {
    ($($(#[$doc:meta])* $field:ident: $ty:ty,)*) => {
        /// The content of one locale x channel of a template, as written.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct TemplateVariant {
            /// Locale (BCP 47).
            pub locale: String,
            /// Channel the content is for.
            #[serde(with = "channel_name")]
            pub channel: Channel,
            $($(#[$doc])* pub $field: $ty,)*
        }

        /// One stored variant of one version of a template.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct Template {
            /// Template id chosen by the tenant.
            pub template_id: String,
            /// Version, from 1, shared by every variant written together.
            pub version: u32,
            /// Locale (BCP 47).
            pub locale: String,
            /// Channel the content is for.
            #[serde(with = "channel_name")]
            pub channel: Channel,
            $($(#[$doc])* pub $field: $ty,)*
            /// When this version was written.
            pub created_at_ms: i64,
        }

        impl Template {
            /// Version `version` of `template_id` for `locale` and `channel`, with no content.
            pub fn empty(template_id: &str, version: u32, locale: &str, channel: Channel) -> Self {
                Self {
                    template_id: template_id.to_owned(),
                    version,
                    locale: locale.to_owned(),
                    channel,
                    $($field: Default::default(),)*
                    created_at_ms: 0,
                }
            }

            /// The stored form of `variant` as `version` of `template_id`.
            pub fn from_variant(
                template_id: &str,
                version: u32,
                variant: &TemplateVariant,
                created_at_ms: i64,
            ) -> Self {
                Self {
                    template_id: template_id.to_owned(),
                    version,
                    locale: variant.locale.clone(),
                    channel: variant.channel,
                    $($field: variant.$field.clone(),)*
                    created_at_ms,
                }
            }
        }
    };
}

template_records! {
    /// Push title.
    title: Option<String>,
    /// Push body.
    body: Option<String>,
    /// Email subject.
    subject: Option<String>,
    /// Email HTML body.
    html: Option<String>,
    /// SMS text, or the plain-text part of an email.
    text: Option<String>,
    /// Custom push data (templated values).
    data: BTreeMap<String, String>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in listing order.
    pub items: Vec<T>,
    /// Opaque cursor of the next page; `None` when this is the last one.
    pub next: Option<String>,
}

/// What a `put_*` stored, and whether it created the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted<T> {
    /// The object as stored, with its timestamps.
    pub record: T,
    /// True if it did not exist before.
    pub created: bool,
}

/// Channels in directory records serialize by their lowercase name (`webpush`), like
/// platforms and the admin API, rather than by the Avro symbol (`WEBPUSH`).
mod channel_name {
    use notify_schemas::Channel;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(channel: &Channel, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(channel.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Channel, D::Error> {
        let name = String::deserialize(d)?;
        Channel::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown channel {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_is_stable_and_depends_on_platform_and_token() {
        let apns = PushTarget::Apns {
            token: "ab".repeat(32),
        };
        let fcm = PushTarget::Fcm {
            token: "ab".repeat(32),
        };
        let id = device_id_for(&apns);
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(id, device_id_for(&apns.clone()));
        assert_ne!(id, device_id_for(&fcm));
    }

    #[test]
    fn quiet_hours_wrap_past_midnight() {
        let night = QuietHours {
            start_minute: 22 * 60,
            end_minute: 7 * 60,
        };
        assert!(night.contains(23 * 60));
        assert!(night.contains(0));
        assert!(night.contains(6 * 60 + 59));
        assert!(!night.contains(7 * 60));
        assert!(!night.contains(12 * 60));
        let lunch = QuietHours {
            start_minute: 12 * 60,
            end_minute: 13 * 60,
        };
        assert!(lunch.contains(12 * 60 + 30));
        assert!(!lunch.contains(13 * 60));
    }

    #[test]
    fn push_target_serializes_with_a_platform_tag() {
        let target = PushTarget::WebPush {
            subscription: WebPushSubscription {
                endpoint: "https://push.example/x".into(),
                p256dh: "k".into(),
                auth: "a".into(),
            },
        };
        let json = serde_json::to_string(&target).expect("serializes");
        assert_eq!(
            json,
            r#"{"platform":"webpush","subscription":{"endpoint":"https://push.example/x","p256dh":"k","auth":"a"}}"#
        );
        assert_eq!(serde_json::from_str::<PushTarget>(&json).ok(), Some(target));
        let state = serde_json::to_string(&DeviceState::Invalid {
            reason: "Unregistered".into(),
        })
        .expect("serializes");
        assert_eq!(state, r#"{"invalid":{"reason":"Unregistered"}}"#);
        let preference = Preference {
            category: "news".into(),
            channel: Channel::WebPush,
            enabled: false,
        };
        let json = serde_json::to_string(&preference).expect("serializes");
        assert_eq!(
            json,
            r#"{"category":"news","channel":"webpush","enabled":false}"#
        );
        assert_eq!(
            serde_json::from_str::<Preference>(&json).ok(),
            Some(preference)
        );
        assert_eq!(Platform::parse("webpush"), Some(Platform::WebPush));
        assert_eq!(Channel::parse("webpush"), Some(Channel::WebPush));
        assert_eq!(Channel::parse("WEBPUSH"), None);
    }
}
