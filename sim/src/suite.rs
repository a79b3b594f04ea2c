//! Every simulator at once, with the credentials a dispatcher needs to talk to them: what
//! `notify sim`, the embedded demo and the end-to-end tests run.
//!
//! [`SimSuite::start`] generates fresh keys (APNs `.p8`, FCM service account, VAPID), a test CA
//! and API secrets, writes them as files under one directory (mode 0600), starts the seven
//! simulators on loopback, and renders the `[dispatch.providers]` table that points the real
//! provider clients at them ([`SimSuite::providers_toml`]). SMS fails over Twilio → Vonage and
//! email SendGrid → SMTP. Nothing generated here is ever a real credential.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::apns::{ApnsSim, ApnsSimSettings};
use crate::fcm::{FcmSim, FcmSimSettings};
use crate::keys::KeyPair;
use crate::sendgrid::{SendGridSim, SendGridSimSettings};
use crate::sendgrid_events::EventWebhook;
use crate::smtp::{SmtpSim, SmtpSimSettings};
use crate::tls::{SimError, TestCa};
use crate::twilio::{TwilioSim, TwilioSimSettings};
use crate::vonage::{VonageSim, VonageSimSettings};
use crate::webpush::WebPushSim;
use crate::Ledger;

/// APNs key id the suite's provider tokens carry.
pub const APNS_KEY_ID: &str = "SIMKEY0001";
/// APNs team id.
pub const APNS_TEAM_ID: &str = "SIMTEAM001";
/// APNs topic (bundle id) of the demo app.
pub const APNS_TOPIC: &str = "com.example.notify";
/// FCM project.
pub const FCM_PROJECT: &str = "notify-sim";

/// Where the suite listens and writes its credentials.
#[derive(Debug, Clone)]
pub struct SuiteSettings {
    /// Directory for the generated credential files (created if missing).
    pub dir: PathBuf,
    /// Address to listen on; loopback by default.
    pub host: IpAddr,
    /// First port: the simulators take `port_base`, `+1`, ... `+7` (SMTP control on `+7`);
    /// 0 for ports the system picks.
    pub port_base: u16,
}

impl SuiteSettings {
    /// Loopback, system-chosen ports, credentials under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_base: 0,
        }
    }
}

/// The running simulators. Dropping it stops them.
#[derive(Debug)]
pub struct SimSuite {
    /// Fake APNs (HTTP/2 over TLS).
    pub apns: ApnsSim,
    /// Fake FCM (OAuth2 token endpoint and HTTP v1 send).
    pub fcm: FcmSim,
    /// Fake web push service.
    pub webpush: WebPushSim,
    /// Fake Twilio.
    pub twilio: TwilioSim,
    /// Fake Vonage.
    pub vonage: VonageSim,
    /// Fake SendGrid.
    pub sendgrid: SendGridSim,
    /// Fake SendGrid's Event Webhook (set its URL to have events posted).
    pub sendgrid_events: Arc<EventWebhook>,
    /// SMTP sink.
    pub smtp: SmtpSim,
    providers_toml: String,
}

async fn bind(settings: &SuiteSettings, offset: u16) -> Result<TcpListener, SimError> {
    let port = if settings.port_base == 0 {
        0
    } else {
        settings.port_base + offset
    };
    let addr = SocketAddr::new(settings.host, port);
    TcpListener::bind(addr)
        .await
        .map_err(|e| io_error(e, format!("cannot listen on {addr}")))
}

/// An I/O error with what we were doing in its text.
fn io_error(err: std::io::Error, doing: String) -> SimError {
    SimError::Io(std::io::Error::new(err.kind(), format!("{doing}: {err}")))
}

fn write_secret(dir: &Path, name: &str, contents: &str) -> Result<PathBuf, SimError> {
    let path = dir.join(name);
    std::fs::write(&path, contents)
        .map_err(|e| io_error(e, format!("cannot write {}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_error(e, format!("cannot restrict {}", path.display())))?;
    }
    Ok(path)
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// `text` as a TOML basic string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl SimSuite {
    /// Generates credentials, starts every simulator and renders the providers table. Must be
    /// called inside a Tokio runtime.
    pub async fn start(settings: SuiteSettings) -> Result<Self, SimError> {
        let dir = &settings.dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| io_error(e, format!("cannot create {}", dir.display())))?;
        let path = |p: PathBuf| quoted(&p.to_string_lossy());

        // APNs: a .p8 key the simulator verifies provider tokens with, and its TLS CA
        let apns_key = KeyPair::generate_p256()?;
        let apns_key_file = write_secret(dir, "apns-key.p8", apns_key.private_pem())?;
        let ca = TestCa::generate()?;
        let ca_file = write_secret(dir, "sim-ca.pem", ca.ca_pem())?;
        let mut apns_settings =
            ApnsSimSettings::new(APNS_KEY_ID, APNS_TEAM_ID, apns_key.public_pem());
        apns_settings.topic = Some(APNS_TOPIC.to_owned());
        apns_settings.ca = Some(ca);
        let apns = crate::apns::serve(bind(&settings, 0).await?, apns_settings)?;

        // FCM: a service account whose token_uri is the simulator's
        let fcm_key = KeyPair::generate_rsa()?;
        let client_email = format!("notify@{FCM_PROJECT}.iam.gserviceaccount.com");
        let fcm = crate::fcm::serve(
            bind(&settings, 1).await?,
            FcmSimSettings::new(&client_email, fcm_key.public_pem(), FCM_PROJECT),
        )?;
        let account = serde_json::json!({
            "type": "service_account",
            "project_id": FCM_PROJECT,
            "private_key_id": random_hex(20),
            "private_key": fcm_key.private_pem(),
            "client_email": client_email,
            "token_uri": format!("{}/token", fcm.base_url()),
        });
        let fcm_file = write_secret(dir, "fcm-service-account.json", &account.to_string())?;

        // web push: a VAPID key; subscriptions are minted by the simulator
        let vapid = KeyPair::generate_p256()?;
        let vapid_file = write_secret(dir, "vapid.pem", vapid.private_pem())?;
        let webpush = crate::webpush::serve(bind(&settings, 2).await?)?;

        // SMS: Twilio first, Vonage as the failover
        let account_sid = format!("AC{}", random_hex(16));
        let twilio_token = random_hex(16);
        let twilio_token_file = write_secret(dir, "twilio-auth-token", &twilio_token)?;
        let twilio = crate::twilio::serve(
            bind(&settings, 3).await?,
            TwilioSimSettings {
                account_sid: account_sid.clone(),
                auth_token: twilio_token,
            },
        )?;
        let vonage_key = random_hex(4);
        let vonage_secret = random_hex(8);
        let vonage_secret_file = write_secret(dir, "vonage-api-secret", &vonage_secret)?;
        let vonage_signature = random_hex(16);
        let vonage_signature_file =
            write_secret(dir, "vonage-signature-secret", &vonage_signature)?;
        let vonage = crate::vonage::serve(
            bind(&settings, 4).await?,
            VonageSimSettings {
                api_key: vonage_key.clone(),
                api_secret: vonage_secret,
                signature_secret: vonage_signature,
            },
        )?;

        // email: SendGrid first, SMTP as the failover
        let sendgrid_key = format!("SG.{}", random_hex(24));
        let sendgrid_key_file = write_secret(dir, "sendgrid-api-key", &sendgrid_key)?;
        let sendgrid_settings = SendGridSimSettings::new(sendgrid_key);
        let sendgrid_events = sendgrid_settings.events.clone();
        let sendgrid = crate::sendgrid::serve(bind(&settings, 5).await?, sendgrid_settings)?;
        let smtp = crate::smtp::serve_with_control(
            bind(&settings, 6).await?,
            bind(&settings, 7).await?,
            SmtpSimSettings::default(),
        )?;

        let mut toml = String::new();
        let _ = writeln!(
            toml,
            "[apns]\nbase_url = {}\nkey_file = {}\nkey_id = {}\nteam_id = {}\ntopic = {}\nca_file = {}\n",
            quoted(&apns.base_url()),
            path(apns_key_file),
            quoted(APNS_KEY_ID),
            quoted(APNS_TEAM_ID),
            quoted(APNS_TOPIC),
            path(ca_file),
        );
        let _ = writeln!(
            toml,
            "[fcm]\nbase_url = {}\nservice_account_file = {}\n",
            quoted(fcm.base_url()),
            path(fcm_file),
        );
        let _ = writeln!(
            toml,
            "[webpush]\nvapid_key_file = {}\nsubject = \"mailto:ops@notify.test\"\nallow_insecure_loopback = true\n",
            path(vapid_file),
        );
        let _ = writeln!(
            toml,
            "[twilio]\nbase_url = {}\naccount_sid = {}\nauth_token = {{ file = {} }}\nfrom = \"+15005550006\"\n",
            quoted(twilio.base_url()),
            quoted(&account_sid),
            path(twilio_token_file),
        );
        let _ = writeln!(
            toml,
            "[vonage]\nbase_url = {}\napi_key = {}\napi_secret = {{ file = {} }}\nfrom = \"Notify\"\nsignature_secret = {{ file = {} }}\nsignature_method = \"sha256\"\n",
            quoted(vonage.base_url()),
            quoted(&vonage_key),
            path(vonage_secret_file),
            path(vonage_signature_file),
        );
        let _ = writeln!(
            toml,
            "[sms]\nprimary = \"twilio\"\nsecondary = \"vonage\"\n"
        );
        let _ = writeln!(
            toml,
            "[sendgrid]\nbase_url = {}\napi_key = {{ file = {} }}\nevent_webhook_public_key = {}\n",
            quoted(sendgrid.base_url()),
            path(sendgrid_key_file),
            quoted(&sendgrid_events.public_key()),
        );
        let _ = writeln!(
            toml,
            "[smtp]\nhost = {}\nport = {}\ntls = \"none\"\n",
            quoted(&smtp.local_addr().ip().to_string()),
            smtp.local_addr().port(),
        );
        let _ = writeln!(
            toml,
            "[email]\nprimary = \"sendgrid\"\nsecondary = \"smtp\""
        );
        Ok(Self {
            apns,
            fcm,
            webpush,
            twilio,
            vonage,
            sendgrid,
            sendgrid_events,
            smtp,
            providers_toml: toml,
        })
    }

    /// The `[dispatch.providers]` table (without its header) pointing every provider client at
    /// these simulators.
    pub fn providers_toml(&self) -> &str {
        &self.providers_toml
    }

    /// Each simulator's ledger, by provider name.
    pub fn ledgers(&self) -> [(&'static str, &Ledger); 7] {
        [
            ("apns", self.apns.ledger()),
            ("fcm", self.fcm.ledger()),
            ("webpush", self.webpush.ledger()),
            ("twilio", self.twilio.ledger()),
            ("vonage", self.vonage.ledger()),
            ("sendgrid", self.sendgrid.ledger()),
            ("smtp", self.smtp.ledger()),
        ]
    }

    /// Where each simulator's `/_sim/` control API is served, by provider name.
    pub fn control_urls(&self) -> Vec<(&'static str, String)> {
        let mut urls = vec![
            ("apns", self.apns.base_url()),
            ("fcm", self.fcm.base_url().to_owned()),
            ("webpush", self.webpush.base_url().to_owned()),
            ("twilio", self.twilio.base_url().to_owned()),
            ("vonage", self.vonage.base_url().to_owned()),
            ("sendgrid", self.sendgrid.base_url().to_owned()),
        ];
        if let Some(url) = self.smtp.control_url() {
            urls.push(("smtp", url));
        }
        urls
    }
}
