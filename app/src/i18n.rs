//! All UI text, in Vietnamese and English. One struct per screen, so a missing translation is
//! a compile error rather than a blank on a phone. (A full i18n crate would add hundreds of KB
//! of wasm for two languages; this adds none.)

use serde::{Deserialize, Serialize};

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
