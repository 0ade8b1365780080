//! Razorpay orders: created when a user starts a purchase, marked paid (and the user's
//! plan raised) in one transaction when a verified payment arrives.

use super::{Store, StoreError, conflict_aware};
use sqlx::Row;
use sqlx::any::AnyRow;

/// One order as stored. Amounts are in the currency's smallest unit (paise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// Razorpay's id (`order_…`).
    pub order_id: String,
    pub user_id: String,
    /// The plan the order buys.
    pub plan: String,
    pub amount: i64,
    pub currency: String,
    pub receipt: String,
    /// `created` or `paid`.
    pub status: String,
    pub payment_id: Option<String>,
    pub created_at: i64,
    pub paid_at: Option<i64>,
}

pub const ORDER_CREATED: &str = "created";
pub const ORDER_PAID: &str = "paid";

const ORDER_COLUMNS: &str =
    "order_id, user_id, plan, amount, currency, receipt, status, payment_id, created_at, paid_at";

fn order_from(row: &AnyRow) -> Result<Order, sqlx::Error> {
    Ok(Order {
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        plan: row.try_get("plan")?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        receipt: row.try_get("receipt")?,
        status: row.try_get("status")?,
        payment_id: row.try_get("payment_id")?,
        created_at: row.try_get("created_at")?,
        paid_at: row.try_get("paid_at")?,
    })
}

/// What presenting a verified payment for an order did.
#[derive(Debug, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// This call marked the order paid; the account is now on `plan` (the order's plan,
    /// or the higher one it already had).
    Paid { plan: String },
    /// The order was already paid by this very payment: nothing changed (a replay).
    AlreadyPaid,
    /// The order was already paid by another payment.
    PaidByAnother,
    /// This payment already paid another order.
    PaymentUsed,
}

impl Store {
    pub async fn insert_order(&self, order: &Order) -> Result<(), StoreError> {
        let sql =
            format!("INSERT INTO billing_orders ({ORDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&order.order_id)
            .bind(&order.user_id)
            .bind(&order.plan)
            .bind(order.amount)
            .bind(&order.currency)
            .bind(&order.receipt)
            .bind(&order.status)
            .bind(&order.payment_id)
            .bind(order.created_at)
            .bind(order.paid_at)
            .execute(&self.pool)
            .await
            .map_err(conflict_aware)?;
        Ok(())
    }

    /// The order, only when it belongs to `user_id`.
    pub async fn order_of_user(&self, order_id: &str, user_id: &str) -> Result<Option<Order>, StoreError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM billing_orders WHERE order_id = $1 AND user_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(order_id).bind(user_id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(order_from).transpose()?)
    }

    /// The account's orders, newest first.
    pub async fn orders_of_user(&self, user_id: &str) -> Result<Vec<Order>, StoreError> {
        let sql =
            format!("SELECT {ORDER_COLUMNS} FROM billing_orders WHERE user_id = $1 ORDER BY created_at DESC, order_id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(order_from).collect::<Result<_, _>>()?)
    }

    /// Marks the caller's order paid by `payment_id` and, in the same transaction, moves
    /// the account to the order's plan when `raises(current plan)` says that is a raise.
    /// Exactly once: the conditional UPDATE lets one of two racing calls win, and the
    /// unique payment id keeps one payment from paying two orders.
    pub async fn pay_order(
        &self,
        order: &Order,
        payment_id: &str,
        now_ms: i64,
        raises: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<PaymentOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The write comes first: it takes SQLite's write lock before anything is read, so
        // the transaction cannot fail later on upgrading a read lock.
        let marked = sqlx::query(
            "UPDATE billing_orders SET status = $1, payment_id = $2, paid_at = $3 \
             WHERE order_id = $4 AND user_id = $5 AND status = $6",
        )
        .bind(ORDER_PAID)
        .bind(payment_id)
        .bind(now_ms)
        .bind(&order.order_id)
        .bind(&order.user_id)
        .bind(ORDER_CREATED)
        .execute(&mut *tx)
        .await
        .map_err(conflict_aware);
        match marked {
            Err(StoreError::Conflict) => return Ok(PaymentOutcome::PaymentUsed),
            Err(e) => return Err(e),
            Ok(done) if done.rows_affected() == 0 => {
                drop(tx);
                let now = self.order_of_user(&order.order_id, &order.user_id).await?;
                return Ok(match now.and_then(|o| o.payment_id) {
                    Some(paid_by) if paid_by == payment_id => PaymentOutcome::AlreadyPaid,
                    _ => PaymentOutcome::PaidByAnother,
                });
            }
            Ok(_) => {}
        }
        let current: String = sqlx::query("SELECT plan FROM users WHERE id = $1")
            .bind(&order.user_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("plan")?;
        let plan = if raises(&current) {
            // updated_at moves, so other instances' key caches pick the plan up.
            sqlx::query("UPDATE users SET plan = $1, updated_at = $2 WHERE id = $3")
                .bind(&order.plan)
                .bind(now_ms)
                .bind(&order.user_id)
                .execute(&mut *tx)
                .await?;
            order.plan.clone()
        } else {
            current
        };
        tx.commit().await?;
        Ok(PaymentOutcome::Paid { plan })
    }
}
