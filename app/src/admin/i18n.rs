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
            "gateway" => ("Payment company", "결제사", "決済会社"),
            "public_key" => ("Public key", "공개 키", "公開キー"),
            "webhook_secret" => ("Webhook signing secret", "웹훅 서명 시크릿", "Webhook 署名シークレット"),
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
            "api_keys" => ("Store API keys", "Store API 키", "Store API キー"),
            "api_keys_help" => (
                "Your shop system sends a key with every Store API call (Authorization: Bearer …). \
                 Test keys (sk_test_…) work with the sandbox, live keys (sk_live_…) in production.",
                "쇼핑몰 시스템은 Store API를 호출할 때마다 키를 보냅니다 (Authorization: Bearer …). \
                 테스트 키(sk_test_…)는 샌드박스에서, 라이브 키(sk_live_…)는 운영 환경에서 사용합니다.",
                "ショップのシステムは Store API を呼び出すたびにキーを送ります (Authorization: Bearer …)。\
                 テストキー (sk_test_…) はサンドボックスで、ライブキー (sk_live_…) は本番環境で使えます。",
            ),
            "create_key" => ("Create key", "키 만들기", "キーを作成"),
            "creating_key" => ("Creating the key…", "키를 만드는 중…", "キーを作成中…"),
            "new_key_once" => (
                "Your new key. Copy it now: it will not be shown again.",
                "새 키입니다. 지금 복사해 두세요. 다시 표시되지 않습니다.",
                "新しいキーです。今すぐコピーしてください。二度と表示されません。",
            ),
            "copied" => ("I have copied it", "복사했습니다", "コピーしました"),
            "no_api_keys" => ("No keys yet.", "아직 키가 없습니다.", "まだキーはありません。"),
            "key" => ("Key", "키", "キー"),
            "mode" => ("Mode", "모드", "モード"),
            "mode_test" => ("test", "테스트", "テスト"),
            "mode_live" => ("live", "라이브", "ライブ"),
            "created" => ("Created", "생성", "作成日時"),
            "last_used" => ("Last used", "마지막 사용", "最終使用"),
            "never" => ("never", "없음", "なし"),
            "active" => ("Active", "사용 중", "有効"),
            "revoked" => ("Revoked", "폐기됨", "失効済み"),
            "revoke" => ("Revoke", "폐기", "失効させる"),
            "revoking" => ("Revoking…", "폐기하는 중…", "失効させています…"),
            "webhook_endpoints" => ("Webhook endpoints", "웹훅 엔드포인트", "Webhook エンドポイント"),
            "webhook_endpoints_help" => (
                "Where your shop system hears of its Store API payments. Every webhook is signed with \
                 the endpoint's secret (webhook-signature).",
                "쇼핑몰 시스템이 Store API 결제 소식을 받는 곳입니다. 모든 웹훅은 엔드포인트의 \
                 시크릿으로 서명됩니다 (webhook-signature).",
                "ショップのシステムが Store API の決済の通知を受け取る場所です。どの Webhook も\
                 エンドポイントのシークレットで署名されます (webhook-signature)。",
            ),
            "no_endpoints" => ("No endpoints yet.", "아직 엔드포인트가 없습니다.", "まだエンドポイントはありません。"),
            "endpoint" => ("Endpoint", "엔드포인트", "エンドポイント"),
            "endpoint_url" => ("URL", "URL", "URL"),
            "add_endpoint" => ("Add endpoint", "엔드포인트 추가", "エンドポイントを追加"),
            "adding_endpoint" => ("Adding the endpoint…", "엔드포인트를 추가하는 중…", "エンドポイントを追加中…"),
            "new_secret_once" => (
                "The endpoint's signing secret. Copy it now: it will not be shown again.",
                "엔드포인트의 서명 시크릿입니다. 지금 복사해 두세요. 다시 표시되지 않습니다.",
                "エンドポイントの署名シークレットです。今すぐコピーしてください。二度と表示されません。",
            ),
            "rotated_secret_once" => (
                "The new signing secret; the previous one keeps signing for 24 hours. Copy it now: it \
                 will not be shown again.",
                "새 서명 시크릿입니다. 이전 시크릿도 24시간 동안 계속 서명합니다. 지금 복사해 두세요. \
                 다시 표시되지 않습니다.",
                "新しい署名シークレットです。以前のシークレットも 24 時間は署名に使われます。\
                 今すぐコピーしてください。二度と表示されません。",
            ),
            "previous_signs_until" => {
                ("Previous secret signs until", "이전 시크릿 서명 기한", "以前のシークレットの署名期限")
            }
            "rotate_secret" => ("Rotate secret", "시크릿 교체", "シークレットを更新"),
            "rotating" => ("Rotating…", "교체하는 중…", "更新中…"),
            "delete" => ("Delete", "삭제", "削除"),
            "deleting" => ("Deleting…", "삭제하는 중…", "削除中…"),
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

    #[test]
    fn the_store_api_sections_speak_every_language() {
        let keys = [
            "api_keys",
            "api_keys_help",
            "create_key",
            "creating_key",
            "new_key_once",
            "copied",
            "no_api_keys",
            "key",
            "mode",
            "mode_test",
            "mode_live",
            "created",
            "last_used",
            "never",
            "active",
            "revoked",
            "revoke",
            "revoking",
            "webhook_endpoints",
            "webhook_endpoints_help",
            "no_endpoints",
            "endpoint",
            "endpoint_url",
            "add_endpoint",
            "adding_endpoint",
            "new_secret_once",
            "rotated_secret_once",
            "previous_signs_until",
            "rotate_secret",
            "rotating",
            "delete",
            "deleting",
        ];
        for key in keys {
            for lang in [Lang::En, Lang::Ko, Lang::Ja] {
                assert!(!lang.t(key).is_empty(), "{key} in {lang:?}");
            }
        }
        assert_ne!(Lang::Ko.t("new_key_once"), Lang::En.t("new_key_once"));
    }
}
