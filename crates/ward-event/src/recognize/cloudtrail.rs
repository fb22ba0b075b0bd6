//! AWS CloudTrail records: one API call each, as CloudTrail writes them to
//! S3 (inside `{"Records":[…]}`, split by the decoders), as EventBridge
//! delivers them (the `detail` of an envelope, unwrapped by the decoders),
//! or one per line from a shipper.
//!
//! Sigma log source: `product: aws`, `service: cloudtrail`. Native names
//! (`eventName`, `eventSource`, `userIdentity.*`, …) are kept for SigmaHQ
//! rules; ECS names are added beside them.

use super::native::{self, Keys};
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Outcome;

/// See the module documentation.
pub struct CloudTrail;

/// A CloudTrail record: an `eventVersion` and an AWS service endpoint as
/// `eventSource`.
pub(crate) fn shape(r: &dyn Keys) -> bool {
    r.key_str("eventVersion").is_some()
        && r.key_str("eventSource")
            .is_some_and(|s| s.ends_with(".amazonaws.com"))
        && r.key("eventID").is_some()
}

impl Recognizer for CloudTrail {
    fn name(&self) -> &'static str {
        "aws.cloudtrail"
    }

    fn claims(&self, event: &Event) -> bool {
        shape(event)
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        native::timestamp(e, "eventTime");
        native::copy(e, "eventName", "event.action");
        native::copy(e, "eventSource", "event.provider");
        native::copy(e, "eventID", "event.id");
        native::copy(e, "awsRegion", "cloud.region");
        native::copy(e, "recipientAccountId", "cloud.account.id");
        native::copy(e, "userAgent", "user_agent.original");
        native::copy(e, "userIdentity.arn", "user.id");
        native::copy(e, "userIdentity.userName", "user.name");
        native::copy(
            e,
            "userIdentity.sessionContext.sessionIssuer.userName",
            "user.name",
        );
        native::copy(e, "userIdentity.principalId", "user.name");
        native::copy(e, "requestID", "trace.id");
        let addr = native::text(e, "sourceIPAddress").map(str::to_owned);
        native::ip(e, "source.ip", addr.as_deref());
        native::put(e, "cloud.provider", "aws");
        native::kind_event(e);
        let failed = e.get("errorCode").is_some_and(|v| !v.is_null())
            || native::text(e, "responseElements.ConsoleLogin") == Some("Failure");
        native::outcome(
            e,
            if failed {
                Outcome::Failure
            } else {
                Outcome::Success
            },
        );
        let name = native::text(e, "eventName").unwrap_or_default();
        let source = native::text(e, "eventSource").unwrap_or_default();
        let (categories, types): (&[&str], &[&str]) = if name == "ConsoleLogin" {
            (&["authentication"], &["start"])
        } else if source == "iam.amazonaws.com" || source == "sts.amazonaws.com" {
            (&["iam"], &["change"])
        } else if name.starts_with("Get")
            || name.starts_with("List")
            || name.starts_with("Describe")
        {
            (&["configuration"], &["access"])
        } else {
            (&["configuration"], &["change"])
        };
        native::classify(e, categories, types);
        Recognition {
            recognizer: self.name(),
            product: "aws",
            service: Some("cloudtrail"),
            category: None,
            dataset: "aws.cloudtrail",
        }
    }
}
