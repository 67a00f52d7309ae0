//! The admin in the merchant's language: Cafe24's launch says `lang` (`ko_KR`, `ja_JP`,
//! `en_US`, …). English, Korean and Japanese.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ko,
    Ja,
}

impl Lang {
    pub fn parse(raw: &str) -> Lang {
        match raw.get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("ko") => Lang::Ko,
            Some("ja") => Lang::Ja,
            _ => Lang::En,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
            Lang::Ja => "ja",
        }
    }

    /// The text for `key` in this language.
    pub fn t(self, key: &str) -> &'static str {
        let (en, ko, ja) = match key {
            "title" => ("paybridge settings", "paybridge 설정", "paybridge 設定"),
            "mall" => ("Mall", "쇼핑몰", "ショップ"),
            "sign_in" => (
                "Your session has ended. Open paybridge again from your Cafe24 admin.",
                "세션이 만료되었습니다. Cafe24 관리자에서 paybridge를 다시 열어 주세요.",
                "セッションが終了しました。Cafe24 管理画面から paybridge を開き直してください。",
            ),
            "loading" => ("Loading…", "불러오는 중…", "読み込み中…"),
            "credentials" => ("Payment company credentials", "결제사 인증 정보", "決済会社の認証情報"),
            "linked" => ("Linked", "연결됨", "連携済み"),
            "not_linked" => ("Not linked", "연결되지 않음", "未連携"),
            "public_key" => ("Public key", "공개 키", "公開キー"),
            "secret_key" => ("Secret key", "비밀 키", "シークレットキー"),
            "link" => ("Link credentials", "인증 정보 연결", "認証情報を連携"),
            "linking" => ("Checking with the payment company…", "결제사에 확인 중…", "決済会社に確認中…"),
            "unlink" => ("Unlink", "연결 해제", "連携を解除"),
            "unlinking" => {
                ("Disabling shops and unlinking…", "쇼핑몰 비활성화 및 연결 해제 중…", "ショップを無効にして解除中…")
            }
            "shops" => ("Shops", "쇼핑몰 목록", "ショップ一覧"),
            "shop" => ("Shop", "쇼핑몰", "ショップ"),
            "currency" => ("Currency", "통화", "通貨"),
            "status" => ("Status", "상태", "状態"),
            "enabled" => ("Enabled", "사용 중", "有効"),
            "disabled" => ("Disabled", "사용 안 함", "無効"),
            "enable" => ("Enable", "사용", "有効にする"),
            "disable" => ("Disable", "사용 중지", "無効にする"),
            "registering" => ("Registering with Cafe24…", "Cafe24에 등록 중…", "Cafe24 に登録中…"),
            "payments" => ("Recent payments", "최근 결제", "最近の決済"),
            "no_payments" => ("No payments yet.", "아직 결제가 없습니다.", "まだ決済はありません。"),
            "order" => ("Order", "주문", "注文"),
            "amount" => ("Amount", "금액", "金額"),
            "history" => ("History", "이력", "履歴"),
            "deliveries" => ("Notifications to Cafe24", "Cafe24 알림", "Cafe24 への通知"),
            "no_deliveries" => ("No notifications yet.", "아직 알림이 없습니다.", "まだ通知はありません。"),
            "attempts" => ("Attempts", "시도", "試行"),
            "resend" => ("Resend", "다시 보내기", "再送"),
            "resending" => ("Queued again…", "다시 보내는 중…", "再送中…"),
            "logout" => ("Sign out", "로그아웃", "ログアウト"),
            _ => ("", "", ""),
        };
        match self {
            Lang::En => en,
            Lang::Ko => ko,
            Lang::Ja => ja,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cafe24_language_codes_pick_a_language() {
        assert_eq!(Lang::parse("ko_KR"), Lang::Ko);
        assert_eq!(Lang::parse("ja_JP"), Lang::Ja);
        assert_eq!(Lang::parse("en_US"), Lang::En);
        assert_eq!(Lang::parse("zh_CN"), Lang::En);
        assert_eq!(Lang::parse(""), Lang::En);
        assert_eq!(Lang::Ko.t("enable"), "사용");
    }
}
