//! The page's own words in each language it ships: English and Korean. A language is picked
//! with the template fallback ([`notify_common::locale::pick`]); English when none matches.
//!
//! Category names and descriptions are the tenant's and shown as stored.

use notify_schemas::Channel;

/// The languages the page is written in, as normalized locale tags.
pub const LANGUAGES: &[&str] = &["en", "ko"];

/// Every sentence of the pages in one language.
#[derive(Debug)]
pub struct Text {
    /// The `lang` attribute.
    pub lang: &'static str,
    /// Title of the preference page.
    pub page_title: &'static str,
    /// Line under the title.
    pub page_intro: &'static str,
    /// Marks a category that cannot be turned off (text, not colour).
    pub always_on: &'static str,
    /// The save button.
    pub save: &'static str,
    /// Shown after a save.
    pub saved: &'static str,
    /// Shown when the tenant has no categories.
    pub no_categories: &'static str,
    /// Title of the unsubscribe page.
    pub unsubscribe_title: &'static str,
    /// Question before the one-click button; `{category}`, `{channel}` are filled in.
    pub unsubscribe_question: &'static str,
    /// The unsubscribe button.
    pub unsubscribe_button: &'static str,
    /// After an unsubscribe; `{category}`, `{channel}` are filled in.
    pub unsubscribed: &'static str,
    /// A critical category was asked to be turned off.
    pub critical_refused: &'static str,
    /// The link to the preference page.
    pub manage: &'static str,
    /// Title of an error page.
    pub error_title: &'static str,
    /// The link is forged, tampered, of another kind or unreadable.
    pub invalid_link: &'static str,
    /// The link is past its expiry.
    pub expired_link: &'static str,
    /// The user no longer exists.
    pub gone: &'static str,
    /// The store did not answer.
    pub unavailable: &'static str,
    /// Channel names: email, SMS, web push, iOS push, Android push.
    channels: [&'static str; 5],
}

const EN: Text = Text {
    lang: "en",
    page_title: "Notification preferences",
    page_intro: "Choose which messages you receive, and where.",
    always_on: "Always on: these messages cannot be turned off.",
    save: "Save preferences",
    saved: "Your preferences were saved.",
    no_categories: "There is nothing to choose yet.",
    unsubscribe_title: "Unsubscribe",
    unsubscribe_question: "Stop receiving “{category}” messages by {channel}?",
    unsubscribe_button: "Unsubscribe",
    unsubscribed: "You will no longer receive “{category}” messages by {channel}.",
    critical_refused: "“{category}” messages cannot be turned off. Nothing was changed.",
    manage: "Manage all notification preferences",
    error_title: "This link does not work",
    invalid_link:
        "This link is not valid. Nothing was changed. Use the link from your most recent message.",
    expired_link:
        "This link has expired. Nothing was changed. Use the link from your most recent message.",
    gone: "There is nothing to change for this link any more. Nothing was changed.",
    unavailable:
        "The service is not available right now. Nothing was changed. Please try again later.",
    channels: [
        "Email",
        "Text message (SMS)",
        "Browser notifications",
        "iPhone and iPad notifications",
        "Android notifications",
    ],
};

const KO: Text = Text {
    lang: "ko",
    page_title: "알림 설정",
    page_intro: "받고 싶은 알림과 받는 방법을 선택하세요.",
    always_on: "항상 켜짐: 이 알림은 끌 수 없습니다.",
    save: "설정 저장",
    saved: "설정이 저장되었습니다.",
    no_categories: "아직 선택할 항목이 없습니다.",
    unsubscribe_title: "수신 거부",
    unsubscribe_question: "{channel}(으)로 받는 “{category}” 알림을 그만 받으시겠습니까?",
    unsubscribe_button: "수신 거부",
    unsubscribed: "이제 {channel}(으)로 “{category}” 알림을 받지 않습니다.",
    critical_refused: "“{category}” 알림은 끌 수 없습니다. 변경된 내용이 없습니다.",
    manage: "모든 알림 설정 관리",
    error_title: "이 링크는 사용할 수 없습니다",
    invalid_link:
        "유효하지 않은 링크입니다. 변경된 내용이 없습니다. 가장 최근 메시지의 링크를 사용하세요.",
    expired_link:
        "만료된 링크입니다. 변경된 내용이 없습니다. 가장 최근 메시지의 링크를 사용하세요.",
    gone: "이 링크로 변경할 내용이 더 이상 없습니다. 변경된 내용이 없습니다.",
    unavailable:
        "지금은 서비스를 사용할 수 없습니다. 변경된 내용이 없습니다. 잠시 후 다시 시도하세요.",
    channels: [
        "이메일",
        "문자 메시지(SMS)",
        "브라우저 알림",
        "iPhone 및 iPad 알림",
        "Android 알림",
    ],
};

impl Text {
    /// The words for the first of `locales` (in fallback order) the page is written in.
    pub fn pick(locales: &[Option<&str>]) -> &'static Text {
        match notify_common::locale::pick(locales, LANGUAGES) {
            Some("ko") => &KO,
            _ => &EN,
        }
    }

    /// The name of `channel` in this language.
    pub fn channel(&self, channel: Channel) -> &'static str {
        let i = match channel {
            Channel::Email => 0,
            Channel::Sms => 1,
            Channel::WebPush => 2,
            Channel::Apns => 3,
            Channel::Fcm => 4,
        };
        self.channels[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_follows_the_template_fallback() {
        assert_eq!(Text::pick(&[Some("ko-KR")]).lang, "ko");
        assert_eq!(Text::pick(&[None, Some("de"), Some("ko")]).lang, "ko");
        assert_eq!(Text::pick(&[Some("en-GB"), Some("ko")]).lang, "en");
        assert_eq!(Text::pick(&[Some("fr")]).lang, "en");
        assert_eq!(KO.channel(Channel::Email), "이메일");
    }
}
