//! Razorpay Checkout's payment signature: hex HMAC-SHA256, keyed with the key secret,
//! of `order_id + "|" + payment_id`. Only Razorpay and this server know the secret, so a
//! matching signature proves Razorpay confirmed this payment for this order.

use ring::hmac;

/// Constant-time check (ring's `verify`): the time taken says nothing about how much of
/// a forged signature was right. A signature that is not 64 hex digits never matches.
pub fn verify(key_secret: &str, order_id: &str, payment_id: &str, signature_hex: &str) -> bool {
    let Some(tag) = decode_hex(signature_hex) else { return false };
    let key = hmac::Key::new(hmac::HMAC_SHA256, key_secret.as_bytes());
    hmac::verify(&key, message(order_id, payment_id).as_bytes(), &tag).is_ok()
}

/// The signature Razorpay would send (for tests and the fake).
pub fn sign(key_secret: &str, order_id: &str, payment_id: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key_secret.as_bytes());
    let tag = hmac::sign(&key, message(order_id, payment_id).as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn message(order_id: &str, payment_id: &str) -> String {
    format!("{order_id}|{payment_id}")
}

/// 32 bytes from 64 hex digits (either case), else `None`.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::{sign, verify};

    #[test]
    fn matches_razorpays_construction() {
        // HMAC-SHA256("secret", "order_1|pay_1"), computed independently with
        // `printf 'order_1|pay_1' | openssl dgst -sha256 -hmac secret`.
        let expected = "52115a0d3400de9e86aade1f1b6eba9e8974604f4e267a9e9a16633a4c8dd2cb";
        assert_eq!(sign("secret", "order_1", "pay_1"), expected);
        assert!(verify("secret", "order_1", "pay_1", expected));
        assert!(verify("secret", "order_1", "pay_1", &expected.to_uppercase()));
    }

    #[test]
    fn anything_else_fails() {
        let good = sign("secret", "order_1", "pay_1");
        assert!(!verify("other", "order_1", "pay_1", &good));
        assert!(!verify("secret", "order_2", "pay_1", &good));
        assert!(!verify("secret", "order_1", "pay_2", &good));
        assert!(!verify("secret", "order_1", "pay_1", &good[..62]));
        assert!(!verify("secret", "order_1", "pay_1", "zz"));
        assert!(!verify("secret", "order_1", "pay_1", &"é".repeat(32)));
        assert!(!verify("secret", "order_1", "pay_1", ""));
    }
}
