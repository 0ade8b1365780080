//! Paid plans through Razorpay (SPEC §10): which plans can be bought and in what order
//! they rank, the Checkout payment signature, and the client for Razorpay's Orders API.
//! The HTTP routes are in `api::billing`; the orders table in `store::billing`.
//!
//! The flow: the server creates an order at Razorpay for the plan's price and stores it;
//! the browser pays it in Razorpay Checkout, which hands back the payment id and a
//! signature; the server checks that signature with the key secret (only Razorpay and
//! the server know it) and, once, marks the order paid and raises the account's plan.

pub mod razorpay;
pub mod signature;

/// The built-in plans from lowest to highest: buying is only ever an upgrade.
const RANKS: [&str; 4] = ["free", "pro", "team", "enterprise"];

/// The only currency the orders use; prices are in its smallest unit (paise).
pub const CURRENCY: &str = "INR";

/// Whether moving from `from` to `to` is an upgrade. The plan new accounts start on is
/// below everything; a plan outside the built-in order that is not that one (set by an
/// operator) is never "below" anything, so it is not sold over.
pub fn is_upgrade(from: &str, to: &str, default_plan: &str) -> bool {
    if from == to {
        return false;
    }
    if from == default_plan {
        return true;
    }
    let rank = |p: &str| RANKS.iter().position(|r| *r == p);
    matches!((rank(from), rank(to)), (Some(a), Some(b)) if b > a)
}

#[cfg(test)]
mod tests {
    use super::is_upgrade;

    #[test]
    fn only_upgrades_count() {
        assert!(is_upgrade("free", "pro", "free"));
        assert!(is_upgrade("pro", "team", "free"));
        assert!(!is_upgrade("pro", "pro", "free"));
        assert!(!is_upgrade("team", "pro", "free"));
        assert!(!is_upgrade("enterprise", "team", "free"));
        // An operator-made plan is never sold over, unless it is where accounts start.
        assert!(!is_upgrade("partner", "team", "free"));
        assert!(is_upgrade("trial", "pro", "trial"));
    }
}
