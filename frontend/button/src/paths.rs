//! Pure helpers, tested on the host.

/// The pages the button appears on (`<meta name="path_role">`).
pub fn shows_button(path_role: &str) -> bool {
    matches!(path_role, "PRODUCT_DETAIL" | "ORDER_BASKET")
}

/// paybridge's base URL from the script's own URL:
/// `https://pay.example.com/api/external-checkout/script` → `https://pay.example.com`.
pub fn server_base(script_src: &str) -> Option<String> {
    const PATH: &[u8] = b"/api/external-checkout/script";
    let bytes = script_src.as_bytes();
    let at = bytes.windows(PATH.len()).position(|w| w == PATH)?;
    let base = String::from_utf8(bytes[..at].to_vec()).ok()?;
    (base.starts_with("https://") || base.starts_with("http://")).then_some(base)
}

/// The mall's base URL for Cafe24's result pages: the origin, plus the shop's path prefix
/// when the page is in a second shop (`/shop2`) or the mobile site (`/m`, `/shop2/m`).
pub fn return_url_base(origin: &str, pathname: &str) -> String {
    let mut segments = pathname.split('/').filter(|s| !s.is_empty());
    let mut prefix = String::new();
    let mut next = segments.next();
    if let Some(shop) = next.filter(|s| is_shop_segment(s)) {
        prefix.push('/');
        prefix.push_str(shop);
        next = segments.next();
    }
    if next == Some("m") {
        prefix.push_str("/m");
    }
    let mut base = origin.trim_end_matches('/').to_owned();
    base.push_str(&prefix);
    base
}

fn is_shop_segment(segment: &str) -> bool {
    segment.strip_prefix("shop").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Who pays, from `CAFE24API.getCustomerIDInfo`: a signed-in member by their member id,
/// anyone else as a guest by the guest id Cafe24 gives them.
#[cfg_attr(test, derive(Debug, PartialEq, Eq))]
pub struct Buyer {
    /// Signed into the reservation HMAC and sent as `member_id`.
    pub id: String,
    /// `bGuest` in the payload.
    pub guest: bool,
}

pub fn buyer(member_id: Option<String>, guest_id: Option<String>) -> Buyer {
    match member_id.filter(|m| !m.is_empty()) {
        Some(id) => Buyer { id, guest: false },
        None => Buyer { id: guest_id.unwrap_or_default(), guest: true },
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_button_appears_on_product_and_basket_pages_only() {
        assert!(shows_button("PRODUCT_DETAIL"));
        assert!(shows_button("ORDER_BASKET"));
        assert!(!shows_button("MAIN"));
        assert!(!shows_button(""));
    }

    #[test]
    fn the_server_is_where_the_script_came_from() {
        assert_eq!(
            server_base("https://pay.example.com/api/external-checkout/script").as_deref(),
            Some("https://pay.example.com")
        );
        assert_eq!(
            server_base("http://127.0.0.1:3000/api/external-checkout/script?v=2").as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert_eq!(server_base("https://elsewhere.example/x.js"), None);
        assert_eq!(server_base("javascript:/api/external-checkout/script"), None);
    }

    #[test]
    fn shop_and_mobile_paths_are_kept_in_the_return_base() {
        let origin = "https://demomall.cafe24shop.com";
        assert_eq!(return_url_base(origin, "/product/detail.html"), origin);
        assert_eq!(return_url_base(origin, "/shop2/product/detail.html"), format!("{origin}/shop2"));
        assert_eq!(return_url_base(origin, "/m/order/basket.html"), format!("{origin}/m"));
        assert_eq!(return_url_base(origin, "/shop3/m/order/basket.html"), format!("{origin}/shop3/m"));
        assert_eq!(return_url_base(origin, "/shopping/x"), origin);
        assert_eq!(return_url_base(origin, "/"), origin);
    }

    #[test]
    fn a_member_pays_as_themselves_and_anyone_else_as_a_guest() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(buyer(some("demobuyer"), None), Buyer { id: "demobuyer".into(), guest: false });
        assert_eq!(buyer(some("demobuyer"), some("guest_1")), Buyer { id: "demobuyer".into(), guest: false });
        assert_eq!(buyer(None, some("guest_1")), Buyer { id: "guest_1".into(), guest: true });
        assert_eq!(buyer(some(""), some("guest_1")), Buyer { id: "guest_1".into(), guest: true });
        assert_eq!(buyer(None, None), Buyer { id: String::new(), guest: true });
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(encode("guest_1-2.3~"), "guest_1-2.3~");
    }
}
