//! The Twilio, Vonage and SendGrid simulators spoken to with a plain HTTP client: each checks
//! what its provider checks and answers in its provider's own error format.

use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::sendgrid::{self, SendGridSimSettings};
use crate::twilio::{self, TwilioSim, TwilioSimSettings};
use crate::vonage::{self, VonageSimSettings};

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// A fake Twilio for account `AC1` with auth token `tok`.
async fn twilio_sim() -> TwilioSim {
    twilio::serve(
        listener().await,
        TwilioSimSettings {
            account_sid: "AC1".into(),
            auth_token: "tok".into(),
        },
    )
    .unwrap()
}

/// The status and JSON body (`null` when not JSON) of a request that got an answer.
async fn answer(sent: reqwest::Result<reqwest::Response>) -> (u16, Value) {
    let response = sent.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn twilio_checks_auth_and_fields_in_order() {
    let sim = twilio_sim().await;
    let url = format!("{}/2010-04-01/Accounts/AC1/Messages.json", sim.base_url());
    let client = reqwest::Client::new();
    let post = |user: &str, password: &str, form: &[(&str, &str)]| {
        client
            .post(&url)
            .basic_auth(user, Some(password))
            .form(form)
            .send()
    };
    let full = [
        ("To", "+821012345678"),
        ("From", "+15005550006"),
        ("Body", "hi"),
    ];
    let (status, body) = answer(post("AC1", "nope", &full).await).await;
    assert_eq!((status, body["code"].clone()), (401, json!(20003)));
    assert_eq!(body["status"], 401);
    assert_eq!(
        body["more_info"],
        "https://www.twilio.com/docs/errors/20003"
    );
    let (_, body) = answer(post("AC1", "tok", &full[1..]).await).await;
    assert_eq!(body["code"], 21604);
    let (_, body) = answer(post("AC1", "tok", &[full[0], full[2]]).await).await;
    assert_eq!(body["code"], 21603);
    let (_, body) = answer(post("AC1", "tok", &full[..2]).await).await;
    assert_eq!(body["code"], 21602);
    let bad_to = [("To", "12345"), full[1], full[2]];
    let (status, body) = answer(post("AC1", "tok", &bad_to).await).await;
    assert_eq!((status, body["code"].clone()), (400, json!(21211)));
    let (status, body) = answer(post("AC1", "tok", &full).await).await;
    assert_eq!(status, 201);
    assert_eq!(body["status"], "queued");
    assert_eq!(
        sim.ledger().entries()[0].message_id,
        body["sid"].as_str().unwrap()
    );
    assert_eq!(
        sim.ledger().entries()[0].delivery_id,
        None,
        "no id was sent"
    );
}

#[tokio::test]
async fn vonage_answers_200_with_per_message_status() {
    let sim = vonage::serve(
        listener().await,
        VonageSimSettings {
            api_key: "k".into(),
            api_secret: "s".into(),
            signature_secret: "sig".into(),
        },
    )
    .unwrap();
    let url = format!("{}/sms/json", sim.base_url());
    let client = reqwest::Client::new();
    let send = |form: Vec<(&'static str, String)>| client.post(&url).form(&form).send();
    let base = |secret: &str, text: String| {
        vec![
            ("api_key", "k".to_owned()),
            ("api_secret", secret.to_owned()),
            ("from", "acme".to_owned()),
            ("to", "821012345678".to_owned()),
            ("text", text),
            ("client-ref", "d-9".to_owned()),
        ]
    };
    let (status, body) = answer(send(base("bad", "hi".into())).await).await;
    assert_eq!(
        (status, body["messages"][0]["status"].clone()),
        (200, json!("4"))
    );
    let mut missing = base("s", "hi".into());
    missing.retain(|(k, _)| *k != "to");
    let (_, body) = answer(send(missing).await).await;
    assert_eq!(body["messages"][0]["status"], "2");
    let (_, body) = answer(send(base("s", "x".repeat(200))).await).await;
    assert_eq!(body["message-count"], "2");
    assert_eq!(body["messages"][1]["status"], "0");
    assert_eq!(body["messages"][0]["client-ref"], "d-9");
    let entry = &sim.ledger().entries()[0];
    assert_eq!(entry.delivery_id.as_deref(), Some("d-9"));
    assert_eq!(entry.summary["parts"], 2);
}

#[tokio::test]
async fn sendgrid_validates_the_body_and_names_the_field() {
    let sim = sendgrid::serve(listener().await, SendGridSimSettings::new("SG.k")).unwrap();
    let url = format!("{}/v3/mail/send", sim.base_url());
    let client = reqwest::Client::new();
    let send = |key: &str, body: &Value| client.post(&url).bearer_auth(key).json(body).send();
    let mail = |to: &str, content: Value| {
        json!({
            "personalizations": [{ "to": [{ "email": to }], "custom_args": { "delivery_id": "d-7" } }],
            "from": { "email": "no-reply@acme.example" },
            "subject": "Hi",
            "content": content,
        })
    };
    let good = json!([{ "type": "text/plain", "value": "hi" }, { "type": "text/html", "value": "<p>hi</p>" }]);
    let (status, _) = answer(send("SG.x", &mail("a@b.example", good.clone())).await).await;
    assert_eq!(status, 401);
    let (status, body) = answer(send("SG.k", &mail("a@localhost", good.clone())).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "personalizations.0.to.0.email");
    let html_first = json!([{ "type": "text/html", "value": "<p>hi</p>" }, { "type": "text/plain", "value": "hi" }]);
    let (_, body) = answer(send("SG.k", &mail("a@b.example", html_first)).await).await;
    assert_eq!(body["errors"][0]["field"], "content.0.type");
    // the published OpenAPI document types the top-level custom_args as a string
    let mut top_level_args = mail("a@b.example", good.clone());
    top_level_args["custom_args"] = json!({ "delivery_id": "d-7" });
    let (status, body) = answer(send("SG.k", &top_level_args).await).await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (400, Some("custom_args"))
    );
    let mut not_strings = mail("a@b.example", good.clone());
    not_strings["personalizations"][0]["custom_args"] = json!({ "attempt": 1 });
    let (status, body) = answer(send("SG.k", &not_strings).await).await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (400, Some("personalizations.0.custom_args"))
    );
    let response = send("SG.k", &mail("a@b.example", good)).await.unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let id = response.headers()["x-message-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let entry = &sim.ledger().entries()[0];
    assert_eq!(
        (entry.message_id.as_str(), entry.delivery_id.as_deref()),
        (id.as_str(), Some("d-7"))
    );
    assert_eq!(entry.summary["html"], "<p>hi</p>");
}

#[tokio::test]
async fn faults_and_ledger_are_driven_over_the_control_api() {
    let sim = twilio_sim().await;
    let client = reqwest::Client::new();
    let faults = json!({ "rules": [{ "fault": { "kind": "status", "code": 503 }, "count": 1 }] });
    let put = client
        .put(format!("{}/_sim/faults", sim.base_url()))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 204);
    let url = format!("{}/2010-04-01/Accounts/AC1/Messages.json", sim.base_url());
    let form = [
        ("To", "+821012345678"),
        ("From", "+15005550006"),
        ("Body", "hi"),
    ];
    let send = || {
        client
            .post(&url)
            .basic_auth("AC1", Some("tok"))
            .form(&form)
            .send()
    };
    let (status, body) = answer(send().await).await;
    assert_eq!((status, body["code"].clone()), (503, json!(20500)));
    let (status, _) = answer(send().await).await;
    assert_eq!(status, 201, "the counted fault is used up");
    let ledger = client.get(format!("{}/_sim/ledger", sim.base_url()));
    let (_, entries) = answer(ledger.send().await).await;
    assert_eq!(entries.as_array().map(Vec::len), Some(1));
    assert_eq!(entries[0]["provider"], "twilio");
}

#[tokio::test]
async fn the_ledger_pages_from_an_index_in_arrival_order() {
    let sim = twilio_sim().await;
    let client = reqwest::Client::new();
    let url = format!("{}/2010-04-01/Accounts/AC1/Messages.json", sim.base_url());
    for text in ["one", "two", "three"] {
        let form = [
            ("To", "+821012345678"),
            ("From", "+15005550006"),
            ("Body", text),
        ];
        let sent = client
            .post(&url)
            .basic_auth("AC1", Some("tok"))
            .form(&form)
            .send();
        assert_eq!(answer(sent.await).await.0, 201);
    }
    let page = |from: usize| {
        client
            .get(format!("{}/_sim/ledger?from={from}", sim.base_url()))
            .send()
    };
    let (_, after_one) = answer(page(1).await).await;
    let texts: Vec<_> = after_one
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"]["text"].clone())
        .collect();
    assert_eq!(texts, [json!("two"), json!("three")]);
    let (_, past_the_end) = answer(page(9).await).await;
    assert_eq!(past_the_end, json!([]));
}
