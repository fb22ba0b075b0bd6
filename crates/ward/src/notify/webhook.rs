//! Generic JSON webhook. The body is Ward's notification (`format = "ward"`)
//! or Alertmanager's webhook payload, version "4" (`format =
//! "alertmanager"`), so receivers written for Alertmanager work unchanged.
//! With a `secret`, the body is signed: `X-Ward-Signature: sha256=<hex
//! HMAC-SHA256 of the body>`.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use ward_alert::config::WebhookFormat;
use ward_alert::receiver::WebhookSpec;

use crate::notify::{Ctx, Notification, Outcome, alertmanager, post};

/// A webhook integration.
#[derive(Debug)]
pub struct Webhook(pub WebhookSpec);

impl Webhook {
    pub async fn notify(&self, ctx: &Ctx, n: &Notification, key: &str) -> Outcome {
        let w = &self.0;
        let body = match w.format {
            WebhookFormat::Ward => ward_payload(n, key),
            WebhookFormat::Alertmanager => alertmanager::webhook_payload(n, key),
        };
        let body = match serde_json::to_vec(&body) {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(format!("cannot encode the payload: {e}")),
        };
        let mut headers: Vec<(String, String)> = w
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().clone()))
            .collect();
        headers.push(("idempotency-key".into(), key.to_string()));
        if let Some(secret) = &w.secret {
            headers.push((
                "x-ward-signature".into(),
                signature(secret.expose().as_bytes(), &body),
            ));
        }
        post(ctx, w.url.expose(), &headers, "application/json", body).await
    }
}

/// `sha256=<hex HMAC-SHA256(key, body)>`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

/// Ward's webhook body: the notification, its idempotency key and a version.
pub fn ward_payload(n: &Notification, key: &str) -> Value {
    let mut v = json!({ "version": "1", "idempotency_key": key });
    if let (Some(obj), Ok(Value::Object(rest))) = (v.as_object_mut(), serde_json::to_value(n)) {
        obj.extend(rest);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
