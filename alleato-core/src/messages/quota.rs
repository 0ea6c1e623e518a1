//! The daily message quota and usage.

use super::error::MessageError;
use super::model::{DailyUsage, QuotaCharge};
use super::service::MessageService;
use crate::auth::UserKind;
use crate::id::UserId;
use crate::time::Timestamp;

pub(super) const DAY_MS: i64 = 86_400_000;

pub(super) fn day_of(t: Timestamp) -> i64 {
    t.as_millis().div_euclid(DAY_MS)
}

pub(super) fn quota_exceeded(limit: u64, now: Timestamp) -> MessageError {
    let resets_in_ms = (day_of(now) + 1) * DAY_MS - now.as_millis();
    MessageError::QuotaExceeded {
        limit,
        resets_in_secs: u64::try_from((resets_in_ms + 999) / 1000).unwrap_or(1),
    }
}

impl MessageService {
    /// The user's usage today (UTC) and their daily message quota.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn usage_today(&self, user: UserId) -> Result<(DailyUsage, u64), MessageError> {
        let usage = self
            .ports
            .usage
            .daily_usage(user, day_of(self.ports.clock.now()))
            .await?;
        Ok((usage, self.quota_of(user).await?))
    }

    async fn quota_of(&self, user: UserId) -> Result<u64, MessageError> {
        let record = self.ports.users.user_by_id(user).await?;
        Ok(match record {
            Some(r) => r.daily_message_limit.map(u64::from).unwrap_or(match r.user.kind {
                UserKind::Guest => self.quotas.guest_daily_messages,
                UserKind::Regular => self.quotas.regular_daily_messages,
            }),
            None => 0,
        })
    }

    /// Whether the user may send one more message today, without charging it: lets a caller
    /// refuse before it writes anything else (the send charges the quota itself).
    ///
    /// # Errors
    /// `QuotaExceeded` when today's count has reached the quota; storage failures.
    pub async fn check_quota(&self, user: UserId) -> Result<(), MessageError> {
        self.quota_charge(user).await.map(drop)
    }

    /// The charge of one more message to the user's daily quota, refused at once when today's
    /// count has already reached it (the model is not called then; the charge itself is made
    /// atomically with the send's writes).
    pub(super) async fn quota_charge(&self, user: UserId) -> Result<QuotaCharge, MessageError> {
        let limit = self.quota_of(user).await?;
        let now = self.ports.clock.now();
        let day = day_of(now);
        if self.ports.usage.daily_usage(user, day).await?.messages >= limit {
            return Err(quota_exceeded(limit, now));
        }
        Ok(QuotaCharge { user, day, limit })
    }
}
