//! All UI text, in Vietnamese and English. One struct per screen, so a missing translation is
//! a compile error rather than a blank on a phone. (A full i18n crate would add hundreds of KB
//! of wasm for two languages; this adds none.)

use serde::{Deserialize, Serialize};

use crate::errors::{AppError, RedeemProblem, SignInProblem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// `vi` / `en` (the SkyJoy iFrame's `lang` values), case-insensitive; `vi-VN` style tags too.
    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first supported language of an `Accept-Language` header, by quality.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else { continue };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    /// The name of the language in itself, for the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Vi => "Tiếng Việt",
            Lang::En => "English",
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}

pub struct Integration {
    pub title: &'static str,
    pub summary: &'static str,
}

pub struct Texts {
    pub tagline: &'static str,
    pub intro: &'static str,
    pub integrations_heading: &'static str,
    pub integrations: [Integration; 4],
    pub details_show: &'static str,
    pub details_hide: &'static str,
    pub status_planned: &'static str,
    pub status_live: &'static str,
    pub operators_heading: &'static str,
    pub switch_language: &'static str,
    pub not_found_title: &'static str,
    pub not_found_body: &'static str,
    pub back_home: &'static str,
    pub signin: SignInTexts,
    pub account: AccountTexts,
    pub tikivip: TikiVipTexts,
    pub cashier: CashierTexts,
    pub errors: ErrorTexts,
}

/// A partner shop's cashier (`pages::cashier`).
pub struct CashierTexts {
    pub title: &'static str,
    pub sign_in_heading: &'static str,
    pub client_id: &'static str,
    pub client_secret: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub code_label: &'static str,
    pub check: &'static str,
    pub status_label: &'static str,
    pub expires: &'static str,
    pub used_at: &'static str,
    pub pin: &'static str,
    pub confirm: &'static str,
    pub status_activated: &'static str,
    pub status_used: &'static str,
    pub status_reversed: &'static str,
    pub status_expired: &'static str,
    pub problem_not_found: &'static str,
    pub problem_already_used: &'static str,
    pub problem_expired: &'static str,
    pub problem_reversed: &'static str,
    pub problem_wrong_pin: &'static str,
}

/// What a server function's error says to the person on the page (`errors::AppError`).
pub struct ErrorTexts {
    pub signed_out: &'static str,
    pub refused: &'static str,
    pub flow_gone: &'static str,
    pub unknown_plan: &'static str,
    pub partner_unavailable: &'static str,
    pub invalid: &'static str,
    pub unavailable: &'static str,
    pub transport: &'static str,
}

impl Texts {
    /// The message for any server function error; an operator's `Invalid` carries its own
    /// (English) detail after the translated lead.
    pub fn error(&'static self, e: &AppError) -> String {
        let t = &self.errors;
        match e {
            AppError::SignedOut => t.signed_out.into(),
            AppError::Refused => t.refused.into(),
            AppError::FlowGone => t.flow_gone.into(),
            AppError::Redeem(p) => self.account.problem(*p).into(),
            AppError::Benefit(p) => self.cashier.problem(*p).into(),
            AppError::UnknownPlan => t.unknown_plan.into(),
            AppError::PartnerUnavailable => t.partner_unavailable.into(),
            AppError::Invalid(why) => format!("{} {why}", t.invalid),
            AppError::Unavailable => t.unavailable.into(),
            AppError::Transport(_) => t.transport.into(),
        }
    }
}

/// The Tiki VIP webview (`pages::tikivip`).
pub struct TikiVipTexts {
    pub title: &'static str,
    pub heading: &'static str,
    pub not_opened: &'static str,
    pub failed: &'static str,
    pub vip_until: &'static str,
    pub not_vip: &'static str,
    pub buy: &'static str,
    pub result_title: &'static str,
    pub paid: &'static str,
    pub pending: &'static str,
    pub pending_hint: &'static str,
    pub cancelled: &'static str,
    pub failed_payment: &'static str,
    pub back_to_plans: &'static str,
}

/// The member's own pages (`pages::account`).
pub struct AccountTexts {
    pub title: &'static str,
    pub signed_out: &'static str,
    pub sign_in: &'static str,
    pub failed: &'static str,
    pub available: &'static str,
    pub locked: &'static str,
    pub total: &'static str,
    pub history: &'static str,
    pub no_history: &'static str,
    pub newer: &'static str,
    pub older: &'static str,
    pub kind_accrual: &'static str,
    pub kind_redemption: &'static str,
    pub kind_expiry: &'static str,
    pub kind_adjustment: &'static str,
    pub kind_reward: &'static str,
    pub redeem_title: &'static str,
    pub redeem_heading: &'static str,
    pub asks_to_use: &'static str,
    pub order: &'static str,
    pub amount: &'static str,
    pub confirm: &'static str,
    pub cancel: &'static str,
    pub back_to_partner: &'static str,
    pub problem_unknown_partner: &'static str,
    pub problem_invalid_request: &'static str,
    pub problem_insufficient_balance: &'static str,
}

impl AccountTexts {
    /// The label of a ledger entry kind (a reversal reads as an adjustment to a member).
    pub fn kind(&self, kind: crate::pages::account::EntryKind) -> &'static str {
        use crate::pages::account::EntryKind;
        match kind {
            EntryKind::Accrual => self.kind_accrual,
            EntryKind::Redemption => self.kind_redemption,
            EntryKind::Expiry => self.kind_expiry,
            EntryKind::Reward => self.kind_reward,
            EntryKind::Adjustment | EntryKind::Reversal => self.kind_adjustment,
        }
    }

    /// The message for a redemption problem.
    pub fn problem(&self, p: RedeemProblem) -> &'static str {
        match p {
            RedeemProblem::UnknownPartner => self.problem_unknown_partner,
            RedeemProblem::InvalidRequest => self.problem_invalid_request,
            RedeemProblem::InsufficientBalance => self.problem_insufficient_balance,
        }
    }
}

/// The SkyJoy sign-in and sign-up screens (`pages::signin`).
pub struct SignInTexts {
    pub title_signin: &'static str,
    pub title_signup: &'static str,
    pub continue_to: &'static str,
    pub phone_label: &'static str,
    pub phone_hint: &'static str,
    pub send_code: &'static str,
    pub code_label: &'static str,
    pub code_sent_to: &'static str,
    pub verify: &'static str,
    pub resend: &'static str,
    pub other_phone: &'static str,
    pub profile_heading: &'static str,
    pub profile_intro: &'static str,
    pub full_name: &'static str,
    pub date_of_birth: &'static str,
    pub email_optional: &'static str,
    pub create_account: &'static str,
    pub done_heading: &'static str,
    pub done_continue: &'static str,
    pub done_embed: &'static str,
    pub cancel: &'static str,
    pub expired_heading: &'static str,
    pub expired_body: &'static str,
    pub failed: &'static str,
    pub error_invalid_phone: &'static str,
    pub error_too_many_codes: &'static str,
    pub error_invalid_code: &'static str,
    pub error_sms_failed: &'static str,
    pub error_invalid_name: &'static str,
    pub error_invalid_date_of_birth: &'static str,
    pub error_invalid_email: &'static str,
    pub error_account_already_linked: &'static str,
    pub error_customer_already_linked: &'static str,
    pub failed_heading: &'static str,
    pub back_to_partner: &'static str,
}

impl SignInTexts {
    /// The message for a sign-in step to redo.
    pub fn error(&self, p: SignInProblem) -> &'static str {
        match p {
            SignInProblem::InvalidPhone => self.error_invalid_phone,
            SignInProblem::TooManyCodes => self.error_too_many_codes,
            SignInProblem::InvalidCode => self.error_invalid_code,
            SignInProblem::SmsFailed => self.error_sms_failed,
            SignInProblem::InvalidName => self.error_invalid_name,
            SignInProblem::InvalidDateOfBirth => self.error_invalid_date_of_birth,
            SignInProblem::InvalidEmail => self.error_invalid_email,
            SignInProblem::AccountAlreadyLinked => self.error_account_already_linked,
            SignInProblem::CustomerAlreadyLinked => self.error_customer_already_linked,
        }
    }
}

pub static VI: Texts = Texts {
    tagline: "Nền tảng tích điểm và tích hợp siêu ứng dụng, tự vận hành",
    intro: "Joygate đóng vai nền tảng trong bốn tích hợp thực tế. Đối tác kết nối qua API và các trang webview bên dưới.",
    integrations_heading: "Các tích hợp",
    integrations: [
        Integration { title: "Đăng nhập SkyJoy (SkyID)", summary: "Nhà cung cấp OpenID Connect: đăng nhập hoặc đăng ký bằng SkyJoy ID qua iFrame, chuyển hướng hoặc ứng dụng một trang; liên kết Customer ID của đối tác." },
        Integration { title: "Sổ điểm SkyPoint", summary: "Tích điểm, tiêu điểm, số dư, điểm tạm giữ, xử lý theo lô, tra cứu giao dịch, webhook có chữ ký và thông báo." },
        Integration { title: "Thanh toán VIP Tiki trong webview", summary: "Trang webview cho đối tác thanh toán, API phía Tiki (URL webview, IPN, kiểm tra giao dịch), hoàn tiền và đối soát." },
        Integration { title: "Ưu đãi cho siêu ứng dụng", summary: "API ký số, idempotent kiểu Alipay+ (đồng bộ, phát hành, thu hồi, tra cứu) và bộ xử lý nhiệm vụ thưởng." },
    ],
    details_show: "Xem chi tiết",
    details_hide: "Ẩn chi tiết",
    status_planned: "Sắp có",
    status_live: "Đang chạy",
    operators_heading: "Dành cho vận hành",
    switch_language: "Đổi ngôn ngữ",
    not_found_title: "Không tìm thấy trang",
    not_found_body: "Địa chỉ này không tồn tại hoặc đã được chuyển đi.",
    back_home: "Về trang chủ",
    signin: SignInTexts {
        title_signin: "Đăng nhập SkyJoy",
        title_signup: "Đăng ký SkyJoy",
        continue_to: "để tiếp tục đến",
        phone_label: "Số điện thoại",
        phone_hint: "Chúng tôi sẽ gửi mã xác thực gồm 6 chữ số qua SMS.",
        send_code: "Gửi mã",
        code_label: "Mã xác thực",
        code_sent_to: "Mã đã được gửi đến",
        verify: "Xác nhận",
        resend: "Gửi lại mã",
        other_phone: "Dùng số khác",
        profile_heading: "Hoàn tất đăng ký",
        profile_intro: "Số điện thoại này chưa có tài khoản SkyJoy. Nhập thông tin để nhận SkyJoy ID.",
        full_name: "Họ và tên",
        date_of_birth: "Ngày sinh",
        email_optional: "Email (không bắt buộc)",
        create_account: "Tạo tài khoản",
        done_heading: "Đăng nhập thành công",
        done_continue: "Tiếp tục",
        done_embed: "Đang quay lại trang của đối tác…",
        cancel: "Hủy",
        expired_heading: "Phiên đăng nhập đã hết hạn",
        expired_body: "Vui lòng quay lại trang của đối tác và bắt đầu lại.",
        failed: "Đã có lỗi xảy ra. Vui lòng thử lại.",
        error_invalid_phone: "Số điện thoại không hợp lệ. Ví dụ: 0912 345 678.",
        error_too_many_codes: "Bạn đã yêu cầu quá nhiều mã. Vui lòng thử lại sau.",
        error_invalid_code: "Mã không đúng hoặc đã hết hạn.",
        error_sms_failed: "Không gửi được SMS. Vui lòng thử lại.",
        error_invalid_name: "Vui lòng nhập họ và tên (chỉ chữ cái và khoảng trắng).",
        error_invalid_date_of_birth: "Ngày sinh không hợp lệ.",
        error_invalid_email: "Email không hợp lệ.",
        error_account_already_linked: "Tài khoản này đã được liên kết trong hệ thống.",
        error_customer_already_linked: "Tài khoản của bạn tại đối tác đã được liên kết với một SkyJoy ID khác.",
        failed_heading: "Không thể liên kết tài khoản",
        back_to_partner: "Quay lại trang đối tác",
    },
    account: AccountTexts {
        title: "SkyPoint của tôi",
        signed_out: "Đăng nhập SkyJoy để xem SkyPoint của bạn.",
        sign_in: "Đăng nhập",
        failed: "Không tải được trang. Vui lòng thử lại.",
        available: "SkyPoint khả dụng",
        locked: "Đang giữ",
        total: "Tổng",
        history: "Lịch sử giao dịch",
        no_history: "Chưa có giao dịch nào.",
        newer: "← Mới hơn",
        older: "Cũ hơn →",
        kind_accrual: "Tích điểm",
        kind_redemption: "Dùng điểm",
        kind_expiry: "Hết hạn",
        kind_adjustment: "Điều chỉnh",
        kind_reward: "Thưởng",
        redeem_title: "Xác nhận dùng SkyPoint",
        redeem_heading: "Xác nhận dùng SkyPoint",
        asks_to_use: "đề nghị dùng",
        order: "Mã giao dịch",
        amount: "Giá trị đơn hàng",
        confirm: "Xác nhận",
        cancel: "Huỷ",
        back_to_partner: "Quay lại đối tác",
        problem_unknown_partner: "Yêu cầu này không đến từ một đối tác SkyJoy đã đăng ký.",
        problem_invalid_request: "Yêu cầu dùng điểm không hợp lệ.",
        problem_insufficient_balance: "Số SkyPoint khả dụng không đủ.",
    },
    tikivip: TikiVipTexts {
        title: "Tiki VIP",
        heading: "Nâng cấp Tiki VIP",
        not_opened: "Hãy mở Tiki VIP từ ứng dụng của bạn.",
        failed: "Không tải được trang. Vui lòng thử lại.",
        vip_until: "Bạn là VIP đến hết ngày",
        not_vip: "Bạn chưa là thành viên VIP.",
        buy: "Mua gói",
        result_title: "Kết quả thanh toán",
        paid: "Thanh toán thành công",
        pending: "Đang chờ xác nhận thanh toán",
        pending_hint: "Trang sẽ tự cập nhật khi có kết quả.",
        cancelled: "Giao dịch đã huỷ",
        failed_payment: "Thanh toán không thành công",
        back_to_plans: "Về trang gói VIP",
    },
    cashier: CashierTexts {
        title: "Quầy thu ngân",
        sign_in_heading: "Đăng nhập quầy thu ngân",
        client_id: "Mã cửa hàng (client id)",
        client_secret: "Mật khẩu (client secret)",
        sign_in: "Đăng nhập",
        sign_out: "Đăng xuất",
        code_label: "Nhập hoặc dán mã ưu đãi của khách",
        check: "Kiểm tra mã",
        status_label: "Trạng thái",
        expires: "Hạn dùng",
        used_at: "Đã dùng lúc",
        pin: "Mã PIN của khách",
        confirm: "Xác nhận sử dụng",
        status_activated: "Còn hiệu lực",
        status_used: "Đã sử dụng",
        status_reversed: "Đã bị thu hồi",
        status_expired: "Đã hết hạn",
        problem_not_found: "Không tìm thấy ưu đãi này ở cửa hàng của bạn. Hãy kiểm tra lại mã.",
        problem_already_used: "Ưu đãi này đã được sử dụng.",
        problem_expired: "Ưu đãi này đã hết hạn.",
        problem_reversed: "Ưu đãi này đã bị thu hồi.",
        problem_wrong_pin: "Mã PIN không đúng.",
    },
    errors: ErrorTexts {
        signed_out: "Phiên làm việc đã kết thúc. Vui lòng đăng nhập hoặc mở lại trang từ ứng dụng.",
        refused: "Không được phép.",
        flow_gone: "Phiên đăng nhập đã hết hạn. Vui lòng bắt đầu lại từ trang của đối tác.",
        unknown_plan: "Gói này không còn được bán.",
        partner_unavailable: "Không kết nối được cổng thanh toán. Vui lòng thử lại.",
        invalid: "Dữ liệu không hợp lệ:",
        unavailable: "Dịch vụ tạm thời gián đoạn. Vui lòng thử lại sau ít phút.",
        transport: "Không kết nối được máy chủ. Vui lòng kiểm tra mạng và thử lại.",
    },
};

pub static EN: Texts = Texts {
    tagline: "Self-hosted loyalty and super-app integration platform",
    intro: "Joygate plays the platform side of four real integrations. Partners plug in through the APIs and webview pages below.",
    integrations_heading: "Integrations",
    integrations: [
        Integration { title: "SkyJoy sign-in (SkyID)", summary: "An OpenID Connect provider: sign in or sign up with a SkyJoy ID in an iFrame, by redirect or from a single-page app; link the partner's Customer ID." },
        Integration { title: "SkyPoint ledger", summary: "Accrual, redemption, balance, locked points, batch files, transaction lookup, signed webhooks and notifications." },
        Integration { title: "Tiki VIP webview payments", summary: "Webview pages for payment partners, the Tiki-side APIs (webview URL, IPN, transaction check), refunds and reconciliation." },
        Integration { title: "Benefits for super apps", summary: "Signed, idempotent Alipay+-style APIs (sync, issue, reverse, inquire) and the loyalty reward-task worker." },
    ],
    details_show: "Show details",
    details_hide: "Hide details",
    status_planned: "Planned",
    status_live: "Live",
    operators_heading: "For operators",
    switch_language: "Change language",
    not_found_title: "Page not found",
    not_found_body: "This address does not exist or has moved.",
    back_home: "Back to the home page",
    signin: SignInTexts {
        title_signin: "Sign in to SkyJoy",
        title_signup: "Join SkyJoy",
        continue_to: "to continue to",
        phone_label: "Phone number",
        phone_hint: "We will text you a 6-digit code.",
        send_code: "Send code",
        code_label: "Verification code",
        code_sent_to: "Code sent to",
        verify: "Verify",
        resend: "Resend code",
        other_phone: "Use another number",
        profile_heading: "Finish signing up",
        profile_intro: "This phone number has no SkyJoy account yet. Tell us about you to get your SkyJoy ID.",
        full_name: "Full name",
        date_of_birth: "Date of birth",
        email_optional: "Email (optional)",
        create_account: "Create account",
        done_heading: "You are signed in",
        done_continue: "Continue",
        done_embed: "Returning to the partner…",
        cancel: "Cancel",
        expired_heading: "This sign-in has expired",
        expired_body: "Please go back to the partner's page and start again.",
        failed: "Something went wrong. Please try again.",
        error_invalid_phone: "That phone number is not valid. Example: 0912 345 678.",
        error_too_many_codes: "Too many codes requested. Please try again later.",
        error_invalid_code: "The code is wrong or has expired.",
        error_sms_failed: "We could not send the SMS. Please try again.",
        error_invalid_name: "Please enter your full name (letters and spaces only).",
        error_invalid_date_of_birth: "That date of birth is not valid.",
        error_invalid_email: "That email address is not valid.",
        error_account_already_linked: "This account is already linked in the system.",
        error_customer_already_linked: "Your account at this partner is already linked to another SkyJoy ID.",
        failed_heading: "This account cannot be linked",
        back_to_partner: "Back to the partner",
    },
    account: AccountTexts {
        title: "My SkyPoints",
        signed_out: "Sign in with SkyJoy to see your SkyPoints.",
        sign_in: "Sign in",
        failed: "The page could not be loaded. Please try again.",
        available: "Available SkyPoints",
        locked: "Locked",
        total: "Total",
        history: "History",
        no_history: "No transactions yet.",
        newer: "← Newer",
        older: "Older →",
        kind_accrual: "Earned",
        kind_redemption: "Spent",
        kind_expiry: "Expired",
        kind_adjustment: "Adjusted",
        kind_reward: "Reward",
        redeem_title: "Confirm SkyPoint use",
        redeem_heading: "Use SkyPoints?",
        asks_to_use: "asks to use",
        order: "Transaction",
        amount: "Order amount",
        confirm: "Confirm",
        cancel: "Cancel",
        back_to_partner: "Back to the partner",
        problem_unknown_partner: "This request does not come from a registered SkyJoy partner.",
        problem_invalid_request: "This redemption request is not valid.",
        problem_insufficient_balance: "You do not have enough available SkyPoints.",
    },
    tikivip: TikiVipTexts {
        title: "Tiki VIP",
        heading: "Upgrade to Tiki VIP",
        not_opened: "Open Tiki VIP from your app.",
        failed: "The page could not be loaded. Please try again.",
        vip_until: "You are VIP until",
        not_vip: "You are not a VIP member yet.",
        buy: "Buy",
        result_title: "Payment result",
        paid: "Payment successful",
        pending: "Waiting for the payment to be confirmed",
        pending_hint: "This page updates itself when the result is in.",
        cancelled: "The payment was cancelled",
        failed_payment: "The payment did not go through",
        back_to_plans: "Back to the VIP plans",
    },
    cashier: CashierTexts {
        title: "Cashier",
        sign_in_heading: "Cashier sign-in",
        client_id: "Shop id (client id)",
        client_secret: "Password (client secret)",
        sign_in: "Sign in",
        sign_out: "Sign out",
        code_label: "Type or paste the customer's voucher code",
        check: "Check the code",
        status_label: "Status",
        expires: "Valid until",
        used_at: "Used at",
        pin: "The customer's PIN",
        confirm: "Confirm use",
        status_activated: "Valid",
        status_used: "Used",
        status_reversed: "Taken back",
        status_expired: "Expired",
        problem_not_found: "No voucher of your shop has this code. Check the code.",
        problem_already_used: "This voucher was already used.",
        problem_expired: "This voucher has expired.",
        problem_reversed: "This voucher was taken back.",
        problem_wrong_pin: "The PIN does not match.",
    },
    errors: ErrorTexts {
        signed_out: "Your session has ended. Sign in, or open the page from your app again.",
        refused: "Refused.",
        flow_gone: "This sign-in has expired. Please start again from the partner's page.",
        unknown_plan: "This plan is no longer on sale.",
        partner_unavailable: "The payment service could not be reached. Please try again.",
        invalid: "Not valid:",
        unavailable: "The service is unavailable right now. Please try again in a few minutes.",
        transport: "The server could not be reached. Check your connection and try again.",
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_and_accept_language() {
        assert_eq!(Lang::parse("EN"), Some(Lang::En));
        assert_eq!(Lang::parse("vi-VN"), Some(Lang::Vi));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::from_accept_language("fr-FR,en;q=0.8,vi;q=0.9"), Some(Lang::Vi));
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de, fr;q=0.5"), None);
        assert_eq!(Lang::from_accept_language(""), None);
    }
}
