//! The application's pages for the authorization server: the [`LoginUi`] trait it implements,
//! and what the crate hands it (the forms' hidden fields) and takes back (a submitted form,
//! a [`DeviceDecision`]).

use core::future::Future;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use token_engine::grant::DeviceRequest;
use token_engine::http::Form;
use token_engine::{AuthorizationDecision, AuthorizationRequest, Error};

use crate::csrf::CsrfToken;

/// The login and consent form's page, as the crate hands it to [`LoginUi::login_page`]: the
/// fields the form must send back to [`LoginForm::action`] (`POST`), beside the
/// application's own (`username`, `password`, the decision, ...).
#[derive(Debug)]
pub struct LoginForm {
    pub(crate) csrf: CsrfToken,
    pub(crate) request: String,
    pub(crate) action: String,
}

impl LoginForm {
    /// Where the form posts to.
    #[must_use]
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The hidden fields the form must carry, HTML-escaped: `csrf` (the token of the
    /// cookie this page sets) and `request` (the original authorization request, validated
    /// again on submission).
    #[must_use]
    pub fn hidden_fields(&self) -> String {
        let mut out = String::new();
        hidden(&mut out, "csrf", self.csrf.value());
        hidden(&mut out, "request", &self.request);
        out
    }
}

/// The device verification page's form: its CSRF field ([`DeviceForm::hidden_fields`]).
#[derive(Debug)]
pub struct DeviceForm {
    pub(crate) csrf: CsrfToken,
    pub(crate) action: String,
}

impl DeviceForm {
    /// Where the form posts to.
    #[must_use]
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The hidden `csrf` field, HTML-escaped.
    #[must_use]
    pub fn hidden_fields(&self) -> String {
        let mut out = String::new();
        hidden(&mut out, "csrf", self.csrf.value());
        out
    }
}

fn hidden(out: &mut String, name: &str, value: &str) {
    out.push_str("<input type=\"hidden\" name=\"");
    out.push_str(name);
    out.push_str("\" value=\"");
    out.push_str(&html_escape(value));
    out.push_str("\">");
}

/// Escape text for HTML.
#[must_use]
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A form the user submitted, its CSRF token checked. Strict: a field sent twice made it
/// invalid before it got here.
#[derive(Debug)]
pub struct Submitted {
    pub(crate) form: Form,
}

impl Submitted {
    /// A field's value, if sent.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.form.get(name)
    }

    /// A field's value, or `""`.
    #[must_use]
    pub fn field(&self, name: &str) -> &str {
        self.form.get(name).unwrap_or("")
    }
}

/// What the user answered on the device verification page.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeviceDecision {
    /// The user who answered.
    pub subject: String,
    /// Whether they approved (else denied).
    pub approve: bool,
    /// The key of the guessing limit (RFC 8628 §5.1): the client's IP or the account.
    pub limiter_key: String,
}

impl DeviceDecision {
    /// `subject` approves; the guessing limit is keyed by the subject.
    #[must_use]
    pub fn approve(subject: impl Into<String>) -> Self {
        let subject = subject.into();
        Self {
            limiter_key: subject.clone(),
            subject,
            approve: true,
        }
    }

    /// `subject` denies; the guessing limit is keyed by the subject.
    #[must_use]
    pub fn deny(subject: impl Into<String>) -> Self {
        Self {
            approve: false,
            ..Self::approve(subject)
        }
    }

    /// Key the guessing limit by `key` instead (the client's IP, say).
    #[must_use]
    pub fn limit_by(mut self, key: impl Into<String>) -> Self {
        self.limiter_key = key.into();
        self
    }
}

/// The application's pages: login and consent for the authorization endpoint, and the
/// device verification page. The crate validates every request first (only a request the
/// library accepted reaches a page), checks each form's CSRF token, sets the CSRF cookie on
/// the pages that carry a form, and adds `Cache-Control: no-store` and
/// `X-Frame-Options: DENY` to every page that does not set them.
pub trait LoginUi: Send + Sync + 'static {
    /// The login and consent page for a validated request. Its form posts to
    /// [`LoginForm::action`] with [`LoginForm::hidden_fields`].
    fn login_page(
        &self,
        request: &AuthorizationRequest,
        form: &LoginForm,
    ) -> impl Future<Output = Response> + Send;

    /// The submitted login and consent form (CSRF checked, the original request validated
    /// again): the decision, or a page to show instead (a wrong password: the page again,
    /// with `retry`'s fresh fields).
    fn login_submit(
        &self,
        request: &AuthorizationRequest,
        submitted: &Submitted,
        retry: &LoginForm,
    ) -> impl Future<Output = Result<AuthorizationDecision, Response>> + Send;

    /// A request with `prompt=none`: answer without a page, from the application's login
    /// session (its cookie is in `headers`). Default: `LoginRequired`.
    fn silent(
        &self,
        request: &AuthorizationRequest,
        headers: &HeaderMap,
    ) -> impl Future<Output = AuthorizationDecision> + Send {
        let _ = (request, headers);
        async { AuthorizationDecision::LoginRequired }
    }

    /// The device verification page (RFC 8628 §3.3), with the `user_code` of the
    /// verification URI if any. Its form posts to [`DeviceForm::action`] with
    /// [`DeviceForm::hidden_fields`] and a `user_code` field. Default: `404` (no device flow).
    fn device_page(
        &self,
        user_code: Option<&str>,
        form: &DeviceForm,
    ) -> impl Future<Output = Response> + Send {
        let _ = (user_code, form);
        async { StatusCode::NOT_FOUND.into_response() }
    }

    /// The submitted device form (CSRF checked): who answered and how, or a page to show
    /// instead (a wrong password). Default: `404`.
    fn device_submit(
        &self,
        submitted: &Submitted,
    ) -> impl Future<Output = Result<DeviceDecision, Response>> + Send {
        let _ = submitted;
        async { Err(StatusCode::NOT_FOUND.into_response()) }
    }

    /// The page after the engine recorded the answer (`Ok`: the device's request), or
    /// refused it (`Error::SlowDown`: too many guesses; other errors: an unknown or expired
    /// code).
    fn device_done(&self, outcome: Result<&DeviceRequest, &Error>) -> Response {
        match outcome {
            Ok(_) => "Done: the device may now continue.".into_response(),
            Err(Error::SlowDown) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many attempts; wait a minute",
            )
                .into_response(),
            Err(_) => (StatusCode::BAD_REQUEST, "unknown or expired code").into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_fields_are_escaped_and_submitted_forms_hide_values() {
        let form = LoginForm {
            csrf: CsrfToken::new(),
            request: "a=1&b=\"><script>".into(),
            action: "/authorize/decide".into(),
        };
        let html = form.hidden_fields();
        assert!(
            html.contains("value=\"a=1&amp;b=&quot;&gt;&lt;script&gt;\""),
            "{html}"
        );
        let submitted = Submitted {
            form: Form::parse("username=alice&password=s3cret").unwrap(),
        };
        assert_eq!(submitted.field("password"), "s3cret");
        assert!(!format!("{submitted:?}").contains("s3cret"));
        assert!(!format!("{form:?}").contains(form.csrf.value()));
    }
}
