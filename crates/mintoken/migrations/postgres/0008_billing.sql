-- Razorpay orders (SPEC §10). One row per order created at Razorpay; a verified payment
-- marks it paid. A payment id can pay for one order only (the UNIQUE index), which is
-- what makes a replayed or re-used payment harmless. Amounts in paise. Never a secret.
CREATE TABLE billing_orders (
    order_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    plan TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    receipt TEXT NOT NULL,
    status TEXT NOT NULL,
    payment_id TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    paid_at BIGINT
);
CREATE INDEX billing_orders_user ON billing_orders(user_id, created_at);
