//! Whether a receiver took the alert. An HTTP error is a failure, and so is a vendor's
//! HTTP 200 whose body says no: DingTalk and WeCom answer `{"errcode": 0}` on success and a
//! non-zero `errcode` otherwise (bad signature, keyword missing, rate limited); Feishu answers
//! `{"code": 0}` (older versions `{"StatusCode": 0}`). Slack and json receivers are judged by
//! status alone.

use crate::config::WebhookFormat;

/// `Ok` when the receiver took it; otherwise a short reason for the log, made only of the
/// status and the vendor's code (the body may echo the URL's token, so no text is kept).
pub fn judge(format: WebhookFormat, status: u16, body: &str) -> Result<(), String> {
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}"));
    }
    let code_fields: &[&str] = match format {
        WebhookFormat::Dingtalk | WebhookFormat::Wecom => &["errcode"],
        WebhookFormat::Feishu => &["code", "StatusCode"],
        WebhookFormat::Slack | WebhookFormat::Json => return Ok(()),
    };
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let code = parsed.as_ref().and_then(|value| {
        code_fields
            .iter()
            .find_map(|field| value.get(field).and_then(serde_json::Value::as_i64))
    });
    match code {
        Some(0) => Ok(()),
        Some(code) => Err(format!("HTTP {status}, {} {code}", code_fields[0])),
        None => Err(format!(
            "HTTP {status}, no {} in the answer",
            code_fields[0]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(format: WebhookFormat, status: u16, body: &str, expected: Result<(), &str>) {
        assert_eq!(
            judge(format, status, body),
            expected.map_err(str::to_string)
        );
    }

    #[test]
    fn vendor_codes_in_a_200_are_failures() {
        use WebhookFormat::*;
        check(Dingtalk, 200, r#"{"errcode":0,"errmsg":"ok"}"#, Ok(()));
        check(
            Dingtalk,
            200,
            r#"{"errcode":310000,"errmsg":"sign not match"}"#,
            Err("HTTP 200, errcode 310000"),
        );
        check(
            Wecom,
            200,
            r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
            Err("HTTP 200, errcode 93000"),
        );
        check(Wecom, 200, r#"{"errcode":0,"errmsg":"ok"}"#, Ok(()));
        check(
            Feishu,
            200,
            r#"{"code":0,"msg":"success","data":{}}"#,
            Ok(()),
        );
        check(
            Feishu,
            200,
            r#"{"StatusCode":0,"StatusMessage":"success"}"#,
            Ok(()),
        );
        check(
            Feishu,
            200,
            r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
            Err("HTTP 200, code 19021"),
        );
        check(
            Dingtalk,
            200,
            "<html>proxy</html>",
            Err("HTTP 200, no errcode in the answer"),
        );
    }

    #[test]
    fn status_decides_for_slack_and_json_and_fails_everyone() {
        use WebhookFormat::*;
        check(Slack, 200, "ok", Ok(()));
        check(Json, 204, "", Ok(()));
        check(Slack, 404, "no_service", Err("HTTP 404"));
        check(Dingtalk, 500, r#"{"errcode":0}"#, Err("HTTP 500"));
    }
}
